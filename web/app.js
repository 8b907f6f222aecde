// Tonearm web player: the locker and player in one page, talking to the JSON API with the
// bearer token it keeps in localStorage. No framework and no build step: ES modules loaded
// from this origin, DOM built with h() (text always set as text, tags are data, never
// markup). This entry module only wires them together:
//   api.js     the API client (fetch wrapper, token, settings, signed-in user, covers)
//   ui.js      DOM helpers (h, formats, status line, covers, dialog, drag to reorder)
//   queue.js   the play queue (order, shuffle, repeat), pure and unit-tested
//   player.js  playback (hls.js, native HLS or progressive), player bar, queue panel, keys
//   views.js   the routed views and their track tables
//   upload.js  the uploader (instant upload, else tus)
//   auth.js    sign in and out, password change

import { api, store, onUnauthorized } from './api.js';
import { player, wirePlayer } from './player.js';
import { wireViews } from './views.js';
import { signedIn, signedOut, wireAuth } from './auth.js';

onUnauthorized(signedOut);
wireAuth();
wireViews();
wirePlayer();

// For tests and diagnostics: what the page plays and how.
window.tonearm = { player, api, mode: () => player.mode() };

window.addEventListener('load', () => {
  if (store.token) signedIn().catch(() => signedOut()); else signedOut();
});
