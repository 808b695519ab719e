// What people actually look at, for the ranking model and the metric.
// On every card of someone else's tweet (`data-log`): an impression the first
// time at least half of it is visible; a dwell for each stretch it stays so,
// counted only while the tab is visible; a click when the tweet is opened.
// Events carry an id of their own, when they happened and the card's feed
// request and position when it came from a feed, and go to POST
// /api/engagements/ in batches: when a batch fills, before any action is sent
// (a like, a follow, a reply form), and when the page is hidden or left (a
// keepalive request outlives the page). Each batch says when it was sent, so
// the server can correct the events' times for this machine's clock.
//
// Nothing is lost when a batch fails: events wait in an outbox kept in
// sessionStorage until the server has answered that it stored them, and a
// failed batch is retried with exponential backoff (or after the server's
// Retry-After), on this page or on the next one this tab loads. The server
// stores an event id once, so sending again whatever might have arrived
// (a request cut off by leaving the page) is safe.
import { api, BEFORE_WRITE, ENGAGEMENTS_URL } from './api.js';

const BATCH_EVENTS = 20;
// Per request: a keepalive request (the page being left) may carry 64 KiB.
const SEND_MAX_EVENTS = 100;
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 60 * 1000;
const VISIBLE_RATIO = 0.5;
const DWELL_MAX_MS = 30 * 60 * 1000; // the API refuses longer (settings.DWELL_MAX_MS)
const OUTBOX_KEY = 'engagements:outbox';

const LOGGED = '.card[data-log]';

const impressed = new WeakSet();
const inView = new Set(); // cards at least half visible now
const visibleSince = new Map(); // card -> when its current stretch began

// A random (version 4) UUID. crypto.randomUUID exists only in a secure
// context, and a page served over plain http is not one.
function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// The events not yet known to be stored, oldest first.
const outbox = (() => {
  try {
    return JSON.parse(sessionStorage.getItem(OUTBOX_KEY)) || [];
  } catch {
    return [];
  }
})();

function keep() {
  try {
    sessionStorage.setItem(OUTBOX_KEY, JSON.stringify(outbox));
  } catch (error) {
    console.error(error); // storage full or off: the events still wait in this page
  }
}

function forget(events) {
  const sent = new Set(events.map((event) => event.id));
  outbox.splice(0, outbox.length, ...outbox.filter((event) => !sent.has(event.id)));
  keep();
}

let sending = false;
let failures = 0;
let retryTimer = null;
// Back online while a request was under way: if it fails, send again at once.
let backOnline = false;

function log(card, kind, extra = {}) {
  const event = { id: uuid(), tweet: Number(card.dataset.tweet), kind, at: new Date().toISOString(), ...extra };
  if (card.dataset.feedRequest) {
    event.feed_request = card.dataset.feedRequest;
    event.position = Number(card.dataset.position);
  }
  outbox.push(event);
  keep();
  if (outbox.length >= BATCH_EVENTS) flush();
}

// A refusal that sending again cannot change (a bad event, the session gone)
// drops what it names; anything else (no network, a 5xx, a 429) is retried.
const refusedForGood = (error) => error.status >= 400 && error.status < 500 && ![408, 429].includes(error.status);

// The events a 400 names (field errors are keyed by the event's index, the
// server's other messages begin "Event <index>:"), or the whole batch when it
// names none: a tweet deleted before its impression was sent costs only that.
async function refusedEvents(error, events) {
  try {
    const errors = (await error.response.json()).events ?? {};
    const indexes = Array.isArray(errors)
      ? errors.map((message) => /^Event (\d+):/.exec(message)?.[1])
      : Object.keys(errors);
    const named = indexes.map((index) => events[Number(index)]).filter(Boolean);
    if (named.length) return named;
  } catch {
    // not the API's JSON (no response, another body): the whole batch
  }
  return events;
}

function retryLater(error) {
  failures += 1;
  const backoffMs = Math.min(RETRY_FIRST_MS * 2 ** (failures - 1), RETRY_MAX_MS) * (0.5 + Math.random() / 2);
  const delayMs = error.retryAfterS ? error.retryAfterS * 1000 : backoffMs;
  retryTimer = setTimeout(() => {
    retryTimer = null;
    send();
  }, delayMs);
}

// One request at a time; while a retry waits out its backoff, new events
// only queue up. `leaving`: the page is going away, so send at once with a
// request that outlives it (whose answer may never be read: the events stay
// in the outbox for the next page, and the server stores them once).
async function send({ leaving = false } = {}) {
  if (!outbox.length || (!leaving && (sending || retryTimer))) return;
  const events = outbox.slice(0, SEND_MAX_EVENTS);
  // What waited through failures, or the rest of a refused batch, goes next.
  let again = failures > 0;
  sending = true;
  try {
    await api('POST', ENGAGEMENTS_URL, { events, sent_at: new Date().toISOString() }, { keepalive: leaving });
    failures = 0;
    forget(events);
  } catch (error) {
    if (refusedForGood(error)) {
      const refused = await refusedEvents(error, events);
      console.error(error, 'dropped:', refused);
      forget(refused);
    } else if (!backOnline) {
      console.warn('engagements will be sent again:', error);
      if (!retryTimer) retryLater(error);
      return;
    }
    again = true; // the rest of a refused batch, or all of it once back online
  } finally {
    sending = false;
    backOnline = false;
  }
  if (outbox.length >= BATCH_EVENTS || (again && outbox.length)) send();
}

function flush() {
  send();
}

window.addEventListener(BEFORE_WRITE, flush);
document.addEventListener('submit', flush, true);
// Back online: no need to wait out the backoff.
window.addEventListener('online', () => {
  clearTimeout(retryTimer);
  retryTimer = null;
  if (sending) backOnline = true;
  else send();
});

function startDwell(card) {
  if (!visibleSince.has(card) && document.visibilityState === 'visible') visibleSince.set(card, performance.now());
}

function endDwell(card) {
  const since = visibleSince.get(card);
  if (since === undefined) return;
  visibleSince.delete(card);
  const dwellMs = Math.min(Math.round(performance.now() - since), DWELL_MAX_MS);
  if (dwellMs >= 1) log(card, 'dwell', { dwell_ms: dwellMs });
}

const observer = new IntersectionObserver((entries) => {
  for (const { target: card, isIntersecting, intersectionRatio } of entries) {
    if (isIntersecting && intersectionRatio >= VISIBLE_RATIO) {
      inView.add(card);
      if (!impressed.has(card)) {
        impressed.add(card);
        log(card, 'impression');
      }
      startDwell(card);
    } else {
      inView.delete(card);
      endDwell(card);
    }
  }
}, { threshold: VISIBLE_RATIO });

const cardsIn = (node) => (node.matches(LOGGED) ? [node] : node.querySelectorAll(LOGGED));

function untrack(card) {
  observer.unobserve(card);
  inView.delete(card);
  endDwell(card);
}

// Cards come and go: "load more" appends them, hide and report remove them.
new MutationObserver((mutations) => {
  for (const { addedNodes, removedNodes } of mutations) {
    for (const node of addedNodes) if (node instanceof Element) cardsIn(node).forEach((card) => observer.observe(card));
    for (const node of removedNodes) if (node instanceof Element) cardsIn(node).forEach(untrack);
  }
}).observe(document.body, { childList: true, subtree: true });

document.addEventListener('click', (event) => {
  const card = event.target.closest('a[data-open]')?.closest(LOGGED);
  if (card) log(card, 'click');
});

// Hidden: the stretches on screen end (and start again when it is back), and
// what is queued is sent at once, for the page may never be shown again.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'hidden') {
    for (const card of inView) endDwell(card);
    send({ leaving: true });
  } else {
    for (const card of inView) startDwell(card);
  }
});

window.addEventListener('pagehide', () => {
  for (const card of inView) endDwell(card);
  send({ leaving: true });
});

document.querySelectorAll(LOGGED).forEach((card) => observer.observe(card));
send(); // what an earlier page of this tab could not

