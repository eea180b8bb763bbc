// The dashboard shell: who is logged in, the navigation, and which page a `#/...` address shows.
// Each page module exports `render(main, params, session)` and may return a function that stops
// its timers when the user leaves.

import { api, setCsrfToken } from './api.js';
import { h, message } from './dom.js';

const pages = {
  login: () => import('./login.js'),
  status: () => import('./status.js'),
  statistics: () => import('./statistics.js'),
  activity: () => import('./activity.js'),
  datasets: () => import('./datasets.js'),
  dataset: () => import('./dataset.js'),
  query: () => import('./query.js'),
  audit: () => import('./audit.js'),
};

let session = null;
let leavePage = null;

function route() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const [name = 'status', ...rest] = parts;
  if (name === 'datasets' && rest.length === 1 && rest[0] === 'new') return { page: 'datasets', params: { create: true } };
  if (name === 'datasets' && rest.length >= 2) {
    return { page: 'dataset', params: { tenant: rest[0], dataset: rest[1], tab: rest[2] || 'overview' } };
  }
  return { page: pages[name] ? name : 'status', params: {} };
}

async function loadSession() {
  try {
    session = await api.get('/api/v1/auth/me');
    setCsrfToken(session.csrf_token || null);
  } catch (_) {
    session = null;
  }
}

function showWho() {
  const who = document.getElementById('who');
  const nav = document.getElementById('nav');
  who.hidden = nav.hidden = !session;
  if (session) {
    document.getElementById('who-name').textContent =
      session.account_name ? `${session.actor} · ${session.account_name}` : `${session.actor} · all accounts`;
  }
}

async function show() {
  if (leavePage) {
    leavePage();
    leavePage = null;
  }
  let { page, params } = route();
  if (!session && page !== 'login') {
    const back = location.hash && !location.hash.startsWith('#/login') ? location.hash : '#/status';
    sessionStorage.setItem('bf-after-login', back);
    location.hash = '#/login';
    return;
  }
  if (session && page === 'login') {
    location.hash = '#/status';
    return;
  }
  showWho();
  for (const link of document.querySelectorAll('#nav a')) {
    const current = link.dataset.page === page || (page === 'dataset' && link.dataset.page === 'datasets');
    if (current) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const main = document.getElementById('main');
  main.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
  try {
    const module = await pages[page]();
    const titled = module.title ? `${module.title} · bytefreezer` : 'bytefreezer';
    document.title = titled;
    main.replaceChildren();
    leavePage = (await module.render(main, params, session)) || null;
  } catch (error) {
    main.replaceChildren(message('error', `This page failed to load: ${error.message}`));
  }
}

async function loggedIn(who) {
  session = who;
  setCsrfToken(who.csrf_token || null);
  const next = sessionStorage.getItem('bf-after-login') || '#/status';
  sessionStorage.removeItem('bf-after-login');
  if (location.hash === next) await show();
  else location.hash = next;
}

document.getElementById('logout').addEventListener('click', async () => {
  try {
    await api.post('/api/v1/auth/logout');
  } catch (_) { /* the session may already be gone */ }
  session = null;
  setCsrfToken(null);
  location.hash = '#/login';
});

window.addEventListener('bf-logged-out', () => {
  if (!session) return;
  session = null;
  location.hash = '#/login';
});
window.addEventListener('bf-logged-in', (event) => loggedIn(event.detail));
window.addEventListener('hashchange', show);

await loadSession();
await show();
