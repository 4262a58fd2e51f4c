// The console's only way to the three APIs: base URLs from config.json, bearer tokens from
// sessionStorage, and every failure turned into a sentence a lab user can act on.

export const APIS = {
  hss: 'HSS',
  scscf: 'S-CSCF',
  pcscf: 'P-CSCF',
};

// Until config.json says otherwise: the lab's ports on the host this page came from.
const host = `${location.protocol}//${location.hostname}`; // IPv6 keeps its brackets here
export const config = { hss: `${host}:8080`, scscf: `${host}:8082`, pcscf: `${host}:8081` };

const KEY = 'ims-console:';

// Tokens live for the browser tab only (sessionStorage), never in the page's markup.
export function token(api) {
  return sessionStorage.getItem(KEY + 'token:' + api) || '';
}

export function setToken(api, value) {
  if (value) sessionStorage.setItem(KEY + 'token:' + api, value);
  else sessionStorage.removeItem(KEY + 'token:' + api);
}

export function setBase(api, url) {
  config[api] = url.replace(/\/+$/, '');
  sessionStorage.setItem(KEY + 'base:' + api, config[api]);
}

export async function loadConfig() {
  try {
    const r = await fetch('config.json', { cache: 'no-cache' });
    if (r.ok) Object.assign(config, await r.json());
  } catch (e) {
    /* a daemon without console settings: keep the lab's ports */
  }
  for (const api of Object.keys(APIS)) {
    const saved = sessionStorage.getItem(KEY + 'base:' + api);
    if (saved !== null) config[api] = saved;
  }
  return config;
}

export class ApiError extends Error {
  constructor(api, status, code, message, detail) {
    super(message);
    this.api = api;
    this.status = status;
    this.code = code;
    this.detail = detail || {};
  }

  // 404 of a whole endpoint (not of one subscriber): the feature is not in this build.
  // Both CSCFs and the HSS answer an unknown path with "no such resource".
  get missing() {
    return this.status === 404 && (!this.detail.message || /no such resource/i.test(this.detail.message));
  }
}

function url(api, path) {
  return (config[api] || '') + path;
}

function words(api, status, body, text) {
  const who = APIS[api];
  if (body && typeof body.message === 'string') {
    const m = body.message.replace(/\.$/, '');
    if (status === 401) return `${who}: ${m}. Enter the ${who} token under Tokens.`;
    return `${who} answered ${status}: ${m}.`;
  }
  if (status === 404) return `${who} answered 404: not available on this build.`;
  return `${who} answered ${status}${text ? ': ' + text.slice(0, 200) : ''}.`;
}

// One request. Resolves to {status, data, headers, text}; rejects with ApiError whose
// message is a full sentence.
export async function call(api, method, path, body, opts = {}) {
  const headers = {};
  const tok = token(api);
  if (tok) headers.Authorization = 'Bearer ' + tok;
  let payload;
  if (body !== undefined) {
    headers['Content-Type'] = opts.contentType || 'application/json';
    payload = typeof body === 'string' ? body : JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(url(api, path), { method, headers, body: payload, cache: 'no-store',
                                      signal: opts.signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(api, 0, 'unreachable',
      `Cannot reach the ${APIS[api]} at ${config[api] || location.origin}: it is not running, ` +
      `the address under Settings is wrong, or it does not allow this page's origin (CORS).`);
  }
  const text = await r.text();
  let data = null;
  if ((r.headers.get('Content-Type') || '').includes('json') && text) {
    try { data = JSON.parse(text); } catch (e) { data = null; }
  }
  if (!r.ok) {
    throw new ApiError(api, r.status, data && data.error || String(r.status),
                       words(api, r.status, data, text), data);
  }
  return { status: r.status, data, text, headers: r.headers };
}

export function apiUrl(api, path) {
  return url(api, path);
}

// Message for a panel whose endpoint this build lacks.
export const NOT_AVAILABLE = 'not available on this build';
