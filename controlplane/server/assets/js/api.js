// Every call to the control plane goes through here: the session cookie rides along, changes
// carry the CSRF token from login, and an error answer becomes an Error with the server's text.

let csrfToken = null;

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function setCsrfToken(token) {
  csrfToken = token;
}

async function errorOf(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && body.error) message = body.error;
  } catch (_) { /* not JSON: keep the status line */ }
  return new ApiError(response.status, message);
}

/// `controlPlane: false` is for the data side (the query service, maybe on this same origin):
/// no session cookie, no CSRF token, and its 401 says nothing about the dashboard session.
export async function call(method, path, body, { base = '', headers = {}, controlPlane = true } = {}) {
  const init = { method, headers: { ...headers }, credentials: controlPlane ? 'same-origin' : 'omit' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (method !== 'GET' && csrfToken && controlPlane) init.headers['X-CSRF-Token'] = csrfToken;
  const response = await fetch(base + path, init);
  if (response.status === 401 && controlPlane && !path.startsWith('/api/v1/auth/')) {
    window.dispatchEvent(new CustomEvent('bf-logged-out'));
  }
  if (!response.ok) throw await errorOf(response);
  if (response.status === 204) return null;
  return response.json();
}

export const api = {
  get: (path, options) => call('GET', path, undefined, options),
  post: (path, body, options) => call('POST', path, body, options),
  put: (path, body, options) => call('PUT', path, body, options),
  del: (path, options) => call('DELETE', path, undefined, options),
};

export function datasetPath(tenant, dataset) {
  return `/api/v1/tenants/${encodeURIComponent(tenant)}/datasets/${encodeURIComponent(dataset)}`;
}
