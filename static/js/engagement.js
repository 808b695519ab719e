// What people actually look at, for the ranking model and the metric.
// On every card of someone else's tweet (`data-log`): an impression the first
// time at least half of it is visible; a dwell for each stretch it stays so,
// counted only while the tab is visible; a click when the tweet is opened.
// Events carry when they happened and the card's feed request and position
// when it came from a feed, and go to POST /api/engagements/ in batches: when
// a batch fills, before any action is sent (a like, a follow, a reply form),
// and when the page is hidden or left (a keepalive request outlives the
// page). Each batch says when it was sent, so the server can correct the
// events' times for this machine's clock.
import { api, BEFORE_WRITE, ENGAGEMENTS_URL } from './api.js';

const BATCH_EVENTS = 20;
const VISIBLE_RATIO = 0.5;
const DWELL_MAX_MS = 30 * 60 * 1000; // the API refuses longer (settings.DWELL_MAX_MS)

const LOGGED = '.card[data-log]';

const queue = [];
const impressed = new WeakSet();
const inView = new Set(); // cards at least half visible now
const visibleSince = new Map(); // card -> when its current stretch began

function log(card, kind, extra = {}) {
  const event = { tweet: Number(card.dataset.tweet), kind, at: new Date().toISOString(), ...extra };
  if (card.dataset.feedRequest) {
    event.feed_request = card.dataset.feedRequest;
    event.position = Number(card.dataset.position);
  }
  queue.push(event);
  if (queue.length >= BATCH_EVENTS) flush();
}

function flush() {
  if (!queue.length) return;
  const events = queue.splice(0);
  const batch = { events, sent_at: new Date().toISOString() };
  api('POST', ENGAGEMENTS_URL, batch, { keepalive: true }).catch((error) => console.error(error));
}

window.addEventListener(BEFORE_WRITE, flush);
document.addEventListener('submit', flush, true);

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
// everything queued is sent, for the page may never be shown again.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'hidden') {
    for (const card of inView) endDwell(card);
    flush();
  } else {
    for (const card of inView) startDwell(card);
  }
});

window.addEventListener('pagehide', () => {
  for (const card of inView) endDwell(card);
  flush();
});

document.querySelectorAll(LOGGED).forEach((card) => observer.observe(card));
