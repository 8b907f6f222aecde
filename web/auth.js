// Signing in and out: the sign-in form, the shell shown once signed in (with the user's
// name, and the Admin link for administrators), Sign out, and the Password dialog. The
// token and the user themselves live in api.js (`store.token`, `session.me`).

import { api, store, session } from './api.js';
import { $, dialog } from './ui.js';
import { player } from './player.js';
import { route } from './views.js';

export function signedOut() {
  store.token = null;
  session.me = null;
  player.stop();
  $('#shell').hidden = true;
  $('#signin').hidden = false;
  api('/setup').then((s) => { $('#first-run').hidden = !s.first_run; }).catch(() => {});
  $('#signin-form').username.focus();
}

export async function signedIn() {
  const me = session.me = await api('/me');
  $('#me-name').textContent = me.username;
  $('#nav-admin').hidden = !me.is_admin;
  $('#signin').hidden = true;
  $('#shell').hidden = false;
  route();
}

export function wireAuth() {
  $('#signin-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    $('#signin-error').textContent = '';
    try {
      const r = await api('/auth/login', { method: 'POST', body: { username: f.username.value, password: f.password.value } });
      store.token = r.token;
      f.password.value = '';
      await signedIn();
    } catch (e) {
      $('#signin-error').textContent = e.code === 'too_many_attempts' ? 'Too many failed attempts; wait a few minutes.' : e.message;
    }
  });
  $('#signout').addEventListener('click', async () => {
    try { await api('/auth/logout', { method: 'POST' }); } catch { /* gone anyway */ }
    signedOut();
  });

  $('#change-password').addEventListener('click', async () => {
    const v = await dialog('Change password', [
      { name: 'current', label: 'Current password', type: 'password', required: true, autocomplete: 'current-password' },
      { name: 'next', label: 'New password (at least 8 characters)', type: 'password', required: true, autocomplete: 'new-password' },
    ], 'Change');
    if (!v) return;
    try {
      await api('/me/password', { method: 'POST', body: { current_password: v.current, new_password: v.next } });
      alert('Password changed. Sign in again with the new one.');
      signedOut();
    } catch (e) { alert(e.message); }
  });
}
