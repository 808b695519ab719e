// The one way the pages talk to the server: same-origin session cookie and
// the CSRF token Django put in the page, on every request.
const csrfToken = document.querySelector('meta[name="csrf-token"]').content;

export const ENGAGEMENTS_URL = '/api/engagements/';
// Dispatched on window before every write but the event log's own: the
// engagement logger sends what it holds first, so the impression that led to
// an action leaves before the action (the server orders by the events' own
// times anyway, so this only keeps the log current).
export const BEFORE_WRITE = 'api:before-write';

// A refusal or failure the server answered: its status, and how long it
// asked the client to wait (Retry-After, in seconds) when it said.
export class ApiError extends Error {
  constructor(method, url, response) {
    super(`${method} ${url}: ${response.status}`);
    this.status = response.status;
    this.response = response;
    const retryAfterS = Number(response.headers.get('Retry-After'));
    this.retryAfterS = Number.isFinite(retryAfterS) && retryAfterS > 0 ? retryAfterS : null;
  }
}

export async function request(method, url, { json, keepalive = false, headers = {} } = {}) {
  if (method !== 'GET' && url !== ENGAGEMENTS_URL) window.dispatchEvent(new Event(BEFORE_WRITE));
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
  if (!response.ok) throw new ApiError(method, url, response);
  return response;
}

// What to tell the person when a request failed: for a rate limit, when to
// try again, in seconds or, from two minutes on, in minutes.
export function failureMessage(error, fallback) {
  if (error.status !== 429) return fallback;
  const seconds = error.retryAfterS;
  let when = 'in a moment';
  if (seconds >= 120) when = `in ${Math.ceil(seconds / 60)} minutes`;
  else if (seconds) when = `in ${seconds} s`;
  return `You are doing that too often. Try again ${when}.`;
}

// JSON API calls; answers the decoded body (null for 204 No Content).
export async function api(method, url, json, options = {}) {
  const response = await request(method, url, { json, ...options, headers: { Accept: 'application/json' } });
  return response.status === 204 ? null : response.json();
}
