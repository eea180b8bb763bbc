// The Query page and the Parquet file list talk to the query service on the data side, straight
// from the browser: the control plane never sees data. The query service accepts a tenant's API
// key, kept in this tab's sessionStorage only.

import { api, ApiError, call } from './api.js';
import { field, h, message } from './dom.js';

const keyName = (tenant) => `bf-query-key:${tenant}`;

/// The first healthy query service's address; empty means this origin (`bytefreezer up`).
export async function queryEndpoint() {
  const services = await api.get('/api/v1/services');
  const query = services.find((s) => s.role === 'query' && s.health === 'Healthy')
    || services.find((s) => s.role === 'query');
  if (!query) throw new Error('no query service has registered: start `bytefreezer query` on the data side');
  return (query.endpoint || '').replace(/\/$/, '');
}

/// A new key reaches the data side with its next configuration (about a second with
/// long-poll, up to 30 s with plain polling), so a refused key is only forgotten once it is older.
const KEY_PROPAGATION_MS = 45000;

function readStored(tenant) {
  try {
    return JSON.parse(sessionStorage.getItem(keyName(tenant)) || 'null');
  } catch (_) {
    return null;
  }
}

export function storedKey(tenant) {
  return readStored(tenant)?.key || null;
}

function storeKey(tenant, key) {
  sessionStorage.setItem(keyName(tenant), JSON.stringify({ key, at: Date.now() }));
}

export async function dataside(method, path, tenant, body) {
  const base = await queryEndpoint();
  const headers = { Authorization: `Bearer ${storedKey(tenant)}` };
  try {
    return await call(method, path, body, { base, headers, controlPlane: false });
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      const stored = readStored(tenant);
      if (stored && Date.now() - stored.at > KEY_PROPAGATION_MS) {
        sessionStorage.removeItem(keyName(tenant));
      } else {
        throw new Error('the query service does not know this key yet; it learns new keys within seconds, try again');
      }
    }
    throw error;
  }
}

/// Shows how to give this tab a key for `tenant`; calls `done()` once one is stored.
export function keyPrompt(tenant, session, done) {
  const pasted = h('input', { type: 'password', name: 'query_key', autocomplete: 'off', placeholder: 'bf_…' });
  const problem = h('div', { 'aria-live': 'polite' });
  const use = h('button', { type: 'button', class: 'secondary' }, 'Use this key');
  use.addEventListener('click', () => {
    if (!pasted.value.trim()) return;
    storeKey(tenant, pasted.value.trim());
    done();
  });
  const create = h('button', { type: 'button', id: 'create-query-key' }, `Create a key for tenant ${tenant}`);
  create.addEventListener('click', async () => {
    create.disabled = true;
    try {
      const stamp = new Date().toISOString().slice(0, 19).replace(/[-:T]/g, '');
      const created = await api.post('/api/v1/keys', { name: `query-${stamp}`, tenant_id: tenant });
      storeKey(tenant, created.key);
      // The data side learns of a new key with its next config (long-poll: about a second).
      problem.replaceChildren(message('info', `Key ${created.record.name} created; the data side picks it up in a moment.`));
      setTimeout(done, 1500);
    } catch (error) {
      problem.replaceChildren(message('error', error.message));
      create.disabled = false;
    }
  });
  const canCreate = session && session.role !== 'viewer';
  return h('div', { class: 'keyprompt' },
    h('p', {}, `Reading data goes to the query service on the data side, which needs an API key of tenant ${tenant}. It stays in this browser tab only.`),
    h('div', { class: 'actions' }, field('API key', pasted), use, canCreate ? create : null),
    problem);
}
