// The API client: the JSON API under /api/v1 with the bearer token kept in localStorage
// (`store`, with the player's quality and volume settings), its errors (`ApiError`), the
// signed-in user (`session.me`), and covers fetched with the token as blob URLs. No DOM.
// A 401 runs the handler set with `onUnauthorized` (the sign-in screen, auth.js).

export const store = {
  get token() { return localStorage.getItem('tonearm.token'); },
  set token(v) { v ? localStorage.setItem('tonearm.token', v) : localStorage.removeItem('tonearm.token'); },
  get quality() { return localStorage.getItem('tonearm.quality') || 'auto'; },
  set quality(v) { localStorage.setItem('tonearm.quality', v); },
  get volume() { const v = parseFloat(localStorage.getItem('tonearm.volume')); return Number.isFinite(v) ? v : 1; },
  set volume(v) { localStorage.setItem('tonearm.volume', String(v)); },
};

// The signed-in user (GET /me), null when signed out.
export const session = { me: null };

let unauthorized = () => {};
export function onUnauthorized(fn) { unauthorized = fn; }

export class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

export async function api(path, { method = 'GET', body, raw } = {}) {
  const headers = {};
  if (store.token) headers.Authorization = `Bearer ${store.token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 401 && path !== '/auth/login') { unauthorized(); throw new ApiError(401, 'unauthorized', 'Signed out'); }
  if (!res.ok) {
    let code = 'error', message = res.statusText;
    try { const e = (await res.json()).error; code = e.code; message = e.message; } catch { /* not JSON */ }
    throw new ApiError(res.status, code, message);
  }
  if (raw) return res;
  return res.status === 204 ? null : res.json();
}

// Covers need the Authorization header, so they are fetched and shown as blob URLs (once
// per path; null if the fetch fails).
const coverCache = new Map();
export async function coverUrl(path) {
  if (!coverCache.has(path)) {
    coverCache.set(path, api(path, { raw: true }).then((r) => r.blob()).then((b) => URL.createObjectURL(b)).catch(() => null));
  }
  return coverCache.get(path);
}
