// Signing in and out: the sign-in form, the shell shown once signed in (with the user's
// name, and the Admin link for administrators), Sign out, the Password dialog and the App
// keys dialog (API keys for Subsonic apps). The
// token and the user themselves live in api.js (`store.token`, `session.me`).

import { api, store, session } from './api.js';
import { $, dialog, h } from './ui.js';
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

  $('#app-keys').addEventListener('click', appKeys);

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

// API keys for Subsonic apps (phone, car, desktop): listed, made (the key is shown once, to
// copy into the app), revoked.
async function appKeys() {
  const d = $('#dialog'), form = $('#dialog-form');
  const list = h('ul', { class: 'keys' });
  const shown = h('p', { class: 'new-key', role: 'status' });
  const error = h('p', { class: 'error', role: 'alert' });
  const label = h('input', { name: 'label', placeholder: 'App or device', 'aria-label': 'Key label', autocomplete: 'off' });
  const refresh = async () => {
    const keys = (await api('/me/api-keys')).items;
    list.replaceChildren(...(keys.length ? keys.map((k) => h('li', {}, h('span', {}, k.label),
      h('small', {}, k.last_used_at ? ` used ${new Date(k.last_used_at * 1000).toLocaleDateString()}` : ' never used'), ' ',
      h('button', { type: 'button', class: 'link', 'aria-label': `Revoke ${k.label}`, onclick: async () => {
        try { await api(`/me/api-keys/${k.id}`, { method: 'DELETE' }); await refresh(); } catch (e) { error.textContent = e.message; }
      } }, 'Revoke'))) : [h('li', {}, 'No keys yet.')]));
  };
  const add = h('button', { type: 'button', onclick: async () => {
    error.textContent = '';
    try {
      const k = await api('/me/api-keys', { method: 'POST', body: { label: label.value } });
      shown.replaceChildren('New key (shown only now): ', h('code', {}, k.key));
      label.value = '';
      await refresh();
    } catch (e) { error.textContent = e.message; }
  } }, 'Make a key');
  form.replaceChildren(h('h2', {}, 'App keys'),
    h('p', {}, 'Subsonic apps can sign in with your user name and password, or with a key made here (revoke it to sign the app out).'),
    list, h('div', { class: 'row' }, label, add), shown, error,
    h('div', { class: 'row' }, h('button', { value: 'cancel', formnovalidate: true }, 'Close')));
  d.showModal();
  try { await refresh(); } catch (e) { error.textContent = e.message; }
}
