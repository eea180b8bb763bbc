// The Query page and the Parquet file list talk to the query service on the data side, straight
// from the browser: the control plane never sees data. It does vouch for where to go and for
// whom: /api/v1/query-access names the query service (this origin in `bytefreezer up`, or one
// the operator configured or the tenant's own account registered) and hands out a short-lived
// token for one tenant, kept in this page's memory only. No permanent key is created or stored.

import { api, ApiError, call } from './api.js';
import { h, message } from './dom.js';

/// Tokens are asked for again this long before they expire.
const RENEW_BEFORE_MS = 30000;

const grants = new Map();

async function queryAccess(tenant) {
  const held = grants.get(tenant);
  if (held && held.expiresAt - Date.now() > RENEW_BEFORE_MS) return held;
  const answer = await api.post('/api/v1/query-access', { tenant_id: tenant });
  const grant = {
    base: (answer.endpoint || '').replace(/\/$/, ''),
    token: answer.token,
    expiresAt: answer.expires_at * 1000,
  };
  grants.set(tenant, grant);
  return grant;
}

export async function dataside(method, path, tenant, body) {
  const grant = await queryAccess(tenant);
  const headers = { Authorization: `Bearer ${grant.token}` };
  try {
    return await call(method, path, body, { base: grant.base, headers, controlPlane: false });
  } catch (error) {
    // A refused token (expired while the tab slept, or the query service restarted with another
    // secret) is dropped, so the next call asks for a fresh one.
    if (error instanceof ApiError && error.status === 401) grants.delete(tenant);
    throw error;
  }
}

/// Kept for pages that ask before reaching the data side: logged-in users always can, with a
/// token the control plane issues on demand.
export function storedKey() {
  return true;
}

/// Kept for the same pages: there is no key to enter any more.
export function keyPrompt(tenant) {
  return h('div', { class: 'keyprompt' },
    message('info', `Reading data of tenant ${tenant} uses a short-lived token from the control plane.`));
}
