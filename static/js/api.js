// The one way the pages talk to the server: same-origin session cookie and
// the CSRF token Django put in the page, on every request.
const csrfToken = document.querySelector('meta[name="csrf-token"]').content;

export async function request(method, url, { json, keepalive = false, headers = {} } = {}) {
  const response = await fetch(url, {
    method,
    keepalive,
    credentials: 'same-origin',
    headers: {
      'X-CSRFToken': csrfToken,
      ...(json === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...headers,
    },
    body: json === undefined ? undefined : JSON.stringify(json),
  });
  if (!response.ok) throw new Error(`${method} ${url}: ${response.status}`);
  return response;
}

// JSON API calls; answers the decoded body (null for 204 No Content).
export async function api(method, url, json, options = {}) {
  const response = await request(method, url, { json, ...options, headers: { Accept: 'application/json' } });
  return response.status === 204 ? null : response.json();
}
