// Page behaviour: card and follow actions through the API (counts updated in
// place), card menus, the compose counter, lists that load more of
// themselves, and the "new tweets" hint.
import { api, failureMessage, request } from './api.js';

const NEWER_POLL_MS = 30_000;
const STATUS_SHOWN_MS = 4_000;
const COUNTER_WARN_AT = 20;

const status = document.getElementById('status');
let statusTimer;

function say(message) {
  status.textContent = message;
  status.hidden = false;
  clearTimeout(statusTimer);
  statusTimer = setTimeout(() => { status.hidden = true; }, STATUS_SHOWN_MS);
}

const pressed = (button) => button.getAttribute('aria-pressed') === 'true';
const cardsOf = (tweetId) => document.querySelectorAll(`.card[data-tweet="${tweetId}"]`);
const tweetApi = (card, action = '') => `/api/tweets/${card.dataset.tweet}/${action}`;

// Where the viewer saw what they act on, for the event log.
function served(card) {
  if (!card.dataset.feedRequest) return {};
  return { feed_request: card.dataset.feedRequest, position: Number(card.dataset.position) };
}

// A tweet as the API answers it: its counts and the viewer's state, on every card showing it.
function show(tweet) {
  const original = tweet.retweet_of || tweet;
  for (const card of cardsOf(original.id)) {
    for (const kind of ['reply', 'retweet', 'like']) {
      card.querySelector(`[data-count="${kind}"]`).textContent = original[`${kind}_count`];
    }
    card.querySelector('[data-action="like"]').setAttribute('aria-pressed', original.liked);
    card.querySelector('[data-action="retweet"]').setAttribute('aria-pressed', original.retweeted);
  }
}

function removeCards(card, message) {
  const leaving = card.classList.contains('focus');
  for (const each of cardsOf(card.dataset.tweet)) each.remove();
  if (leaving) window.location.assign('/');
  else say(message);
}

async function toggle(card, button, action) {
  const undo = pressed(button);
  show(await api(undo ? 'DELETE' : 'POST', tweetApi(card, `${action}/`), undo ? undefined : served(card)));
}

const actions = {
  like: (card, button) => toggle(card, button, 'like'),
  retweet: async (card, button) => {
    await toggle(card, button, 'retweet');
    say(pressed(button) ? 'Retweeted.' : 'Retweet undone.');
  },
  hide: async (card) => {
    await api('POST', tweetApi(card, 'hide/'), served(card));
    removeCards(card, 'Hidden: you will not see this tweet in your feeds again.');
  },
  delete: async (card) => {
    if (!window.confirm('Delete this tweet? This cannot be undone.')) return;
    await api('DELETE', tweetApi(card));
    removeCards(card, 'Your tweet was deleted.');
  },
  follow: async (_, button) => {
    const { username } = button.dataset;
    const profileUrl = `/api/users/${encodeURIComponent(username)}/`;
    await api(pressed(button) ? 'DELETE' : 'POST', `${profileUrl}follow/`);
    const profile = await api('GET', profileUrl);
    const who = CSS.escape(username);
    for (const each of document.querySelectorAll(`[data-action="follow"][data-username="${who}"]`)) {
      each.setAttribute('aria-pressed', profile.is_following);
      each.querySelector('.label').textContent = profile.is_following ? 'Following' : 'Follow';
    }
    for (const count of document.querySelectorAll(`[data-followers="${who}"]`)) {
      count.textContent = profile.followers_count;
    }
  },
};

async function act(button) {
  if (button.getAttribute('aria-busy') === 'true') return;
  button.setAttribute('aria-busy', 'true');
  try {
    await actions[button.dataset.action](button.closest('.card'), button);
  } catch (error) {
    console.error(error);
    say(failureMessage(error, 'That did not work. Please try again.'));
  } finally {
    button.removeAttribute('aria-busy');
  }
}

// --- Menus: one open at a time; Escape or a click elsewhere closes it. -----

function closeMenus(except = null) {
  for (const menu of document.querySelectorAll('details.menu[open]')) {
    if (menu !== except) menu.open = false;
  }
}

document.addEventListener('toggle', (event) => {
  const menu = event.target;
  if (!menu.matches?.('details.menu') || !menu.open) return;
  closeMenus(menu);
  menu.querySelector('.menu-items button')?.focus();
}, true);

document.addEventListener('keydown', (event) => {
  const menu = event.key === 'Escape' && event.target.closest?.('details.menu[open]');
  if (!menu) return;
  menu.open = false;
  menu.querySelector('summary').focus();
});

// --- Clicks: actions, "load more", and opening a tweet from its card. -------

document.addEventListener('click', (event) => {
  closeMenus(event.target.closest('details.menu'));
  const button = event.target.closest('button[data-action]');
  if (button && button.dataset.action in actions) {
    act(button);
    return;
  }
  const more = event.target.closest('a[data-more]');
  if (more) {
    event.preventDefault();
    loadMore(more);
    return;
  }
  const card = event.target.closest('.card');
  const interactive = event.target.closest('a, button, summary, details, form, input, select, textarea');
  if (card && !interactive && !card.classList.contains('focus') && !window.getSelection().toString()) {
    // Through the tweet's own link, so opening it is logged like a click on it.
    card.querySelector('a[data-open]').click();
  }
});

document.addEventListener('submit', async (event) => {
  const form = event.target.closest('form[data-action="report"]');
  if (!form) return;
  event.preventDefault();
  const card = form.closest('.card');
  try {
    await api('POST', tweetApi(card, 'report/'), { reason: form.elements.reason.value, ...served(card) });
    removeCards(card, 'Reported. Thank you: moderators will review it, and it has left your feeds.');
  } catch (error) {
    console.error(error);
    say(failureMessage(error, 'The report did not go through. Please try again.'));
  }
});

// --- Lists that load more of themselves (see config/pages.py). -------------

const moreObserver = new IntersectionObserver((entries) => {
  for (const entry of entries) if (entry.isIntersecting) loadMore(entry.target);
}, { rootMargin: '600px 0px' });

async function loadMore(link) {
  if (link.dataset.loading) return;
  link.dataset.loading = 'true';
  try {
    const response = await request('GET', link.href, { headers: { 'X-Fragment': '1' } });
    const html = await response.text();
    const list = link.parentElement;
    const hadFocus = document.activeElement === link;
    const last = link.previousElementSibling;
    moreObserver.unobserve(link);
    link.insertAdjacentHTML('beforebegin', html);
    link.remove();
    const next = list.querySelector('a[data-more]');
    if (next) moreObserver.observe(next);
    if (hadFocus) (last ? last.nextElementSibling : list.firstElementChild)?.querySelector('a')?.focus();
  } catch (error) {
    console.error(error);
    delete link.dataset.loading;
    say('Could not load more. Try again.');
  }
}

for (const link of document.querySelectorAll('a[data-more]')) moreObserver.observe(link);

// --- The compose box: characters left, and no posting of nothing or too much.

for (const textarea of document.querySelectorAll('textarea[data-max-chars]')) {
  const max = Number(textarea.dataset.maxChars);
  const counter = textarea.form.querySelector('.counter');
  const submit = textarea.form.querySelector('[type="submit"]');
  const update = () => {
    // Code points, as the server counts them, of the text it will keep.
    const left = max - [...textarea.value.trim()].length;
    counter.textContent = left;
    counter.classList.toggle('low', left >= 0 && left <= COUNTER_WARN_AT);
    counter.classList.toggle('over', left < 0);
    submit.disabled = left < 0 || left === max;
  };
  textarea.addEventListener('input', update);
  update();
}

// The reply icon leads to the reply box with the cursor in it: from a card,
// through the tweet's page (`#reply`); on that page, straight to the box.
const focusReply = () => {
  if (window.location.hash === '#reply') document.getElementById('compose-text')?.focus();
};
// At `load`: Chromium scrolls to the fragment's target just before it, and
// that takes the focus back from whatever had it.
window.addEventListener('load', focusReply);
window.addEventListener('hashchange', focusReply);
document.addEventListener('click', (event) => {
  // With `#reply` in the address already there is no hashchange, and going
  // to the fragment again would take the focus away.
  if (event.target.closest('a[href="#reply"]') && window.location.hash === '#reply') {
    event.preventDefault();
    focusReply();
  }
});

// --- "New tweets": ask now and then whether the followed posted since. ------

const newer = document.querySelector('a[data-newer]');
if (newer) {
  const check = async () => {
    if (document.hidden || !newer.hidden) return;
    try {
      newer.hidden = !(await api('GET', newer.dataset.newer)).newer;
    } catch (error) {
      console.error(error);
    }
  };
  setInterval(check, NEWER_POLL_MS);
  document.addEventListener('visibilitychange', check);
}
