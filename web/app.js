// Tonearm web player: the locker and player in one page, talking to the JSON API with the
// bearer token it keeps in localStorage. No framework and no build step: DOM built with h(),
// text always set as text (tags are data, never markup). Playback goes through the signed
// playback URLs (hls.js where MediaSource exists, native HLS in Safari, else a progressive
// stream); uploads through tus (resumable), after trying an instant upload.

const $ = (sel) => document.querySelector(sel);
const store = {
  get token() { return localStorage.getItem('tonearm.token'); },
  set token(v) { v ? localStorage.setItem('tonearm.token', v) : localStorage.removeItem('tonearm.token'); },
  get quality() { return localStorage.getItem('tonearm.quality') || 'auto'; },
  set quality(v) { localStorage.setItem('tonearm.quality', v); },
  get volume() { const v = parseFloat(localStorage.getItem('tonearm.volume')); return Number.isFinite(v) ? v : 1; },
  set volume(v) { localStorage.setItem('tonearm.volume', String(v)); },
};
let me = null;

// ---------------------------------------------------------------- helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function fmtTime(s) {
  if (!Number.isFinite(s) || s < 0) s = 0;
  const m = Math.floor(s / 60), sec = Math.floor(s % 60);
  return m >= 60 ? `${Math.floor(m / 60)}:${String(m % 60).padStart(2, '0')}:${String(sec).padStart(2, '0')}` : `${m}:${String(sec).padStart(2, '0')}`;
}
function fmtBytes(n) {
  const u = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}
function announce(text) { $('#status').textContent = text; }

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(path, { method = 'GET', body, raw } = {}) {
  const headers = {};
  if (store.token) headers.Authorization = `Bearer ${store.token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 401 && path !== '/auth/login') { signedOut(); throw new ApiError(401, 'unauthorized', 'Signed out'); }
  if (!res.ok) {
    let code = 'error', message = res.statusText;
    try { const e = (await res.json()).error; code = e.code; message = e.message; } catch { /* not JSON */ }
    throw new ApiError(res.status, code, message);
  }
  if (raw) return res;
  return res.status === 204 ? null : res.json();
}

// Covers need the Authorization header, so they are fetched and shown as blob URLs, only
// when they scroll into view.
const coverCache = new Map();
async function coverUrl(path) {
  if (!coverCache.has(path)) {
    coverCache.set(path, api(path, { raw: true }).then((r) => r.blob()).then((b) => URL.createObjectURL(b)).catch(() => null));
  }
  return coverCache.get(path);
}
const coverObserver = new IntersectionObserver((entries) => {
  for (const e of entries) {
    if (!e.isIntersecting) continue;
    coverObserver.unobserve(e.target);
    coverUrl(e.target.dataset.cover).then((u) => { if (u) e.target.src = u; });
  }
}, { rootMargin: '200px' });
function cover(path, cls = 'cover', size = 300) {
  const img = h('img', { class: cls, alt: '', loading: 'lazy', dataset: { cover: `${path}?size=${size}` } });
  if (path) coverObserver.observe(img);
  return img;
}

// ---------------------------------------------------------------- sign in

function signedOut() {
  store.token = null;
  me = null;
  player.stop();
  $('#shell').hidden = true;
  $('#signin').hidden = false;
  api('/setup').then((s) => { $('#first-run').hidden = !s.first_run; }).catch(() => {});
  $('#signin-form').username.focus();
}

async function signedIn() {
  me = await api('/me');
  $('#me-name').textContent = me.username;
  $('#nav-admin').hidden = !me.is_admin;
  $('#signin').hidden = true;
  $('#shell').hidden = false;
  route();
}

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

// ---------------------------------------------------------------- dialogs

function dialog(title, fields, submitLabel) {
  const d = $('#dialog'), form = $('#dialog-form');
  form.replaceChildren(h('h2', {}, title), ...fields.map((f) => h('label', {}, f.label,
    h('input', { name: f.name, value: f.value ?? '', type: f.type || 'text', required: f.required, autocomplete: f.autocomplete || 'off' }))),
  h('p', { class: 'error', id: 'dialog-error', role: 'alert' }),
  h('div', { class: 'row' }, h('button', { value: 'cancel', formnovalidate: true }, 'Cancel'), h('button', { value: 'ok', class: 'primary' }, submitLabel)));
  d.showModal();
  return new Promise((resolve) => {
    d.addEventListener('close', () => {
      if (d.returnValue !== 'ok') return resolve(null);
      const out = {};
      for (const f of fields) out[f.name] = form.elements[f.name].value;
      resolve(out);
    }, { once: true });
  });
}

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

// ---------------------------------------------------------------- track lists

const playlistsCache = { list: null };
async function playlists() {
  if (!playlistsCache.list) playlistsCache.list = (await api('/playlists')).items;
  return playlistsCache.list;
}

function trackTable(tracks, { numbers = 'track', playlist = null, onChange = null } = {}) {
  const body = h('tbody');
  tracks.forEach((t, i) => {
    const star = h('button', { 'aria-label': `Favourite ${t.title}`, 'aria-pressed': String(!!t.starred), title: 'Favourite',
      onclick: async () => {
        const on = star.getAttribute('aria-pressed') !== 'true';
        await api(`/tracks/${t.id}/star`, { method: on ? 'PUT' : 'DELETE' });
        star.setAttribute('aria-pressed', String(on)); star.textContent = on ? '★' : '☆';
      } }, t.starred ? '★' : '☆');
    const row = h('tr', { dataset: { id: t.id } },
      h('td', { class: 'num' }, numbers === 'track' ? (t.track_number ?? '') : i + 1),
      h('td', {}, h('button', { class: 'title', onclick: () => player.playList(tracks, i), title: `Play ${t.title}` }, t.title)),
      h('td', { class: 'col-artist' }, h('a', { href: `#/artist/${t.artist_id}` }, t.artist)),
      h('td', { class: 'col-album' }, h('a', { href: `#/album/${t.album_id}` }, t.album)),
      h('td', { class: 'dur' }, fmtTime(t.duration)),
      h('td', { class: 'acts' }, star,
        h('button', { 'aria-label': `Play ${t.title} next`, title: 'Play next', onclick: () => player.enqueue([t], true) }, '↪'),
        h('button', { 'aria-label': `Add ${t.title} to the queue`, title: 'Add to queue', onclick: () => player.enqueue([t]) }, '+'),
        h('button', { 'aria-label': `Add ${t.title} to a playlist`, title: 'Add to playlist', onclick: () => addToPlaylist([t.id]) }, '♫'),
        playlist ? [
          h('button', { 'aria-label': `Move ${t.title} up`, title: 'Move up', disabled: i === 0, onclick: () => reorderPlaylist(playlist, tracks, i, i - 1, onChange) }, '↑'),
          h('button', { 'aria-label': `Move ${t.title} down`, title: 'Move down', disabled: i === tracks.length - 1, onclick: () => reorderPlaylist(playlist, tracks, i, i + 1, onChange) }, '↓'),
          h('button', { 'aria-label': `Remove ${t.title} from the playlist`, title: 'Remove from playlist', onclick: async () => {
            const ids = tracks.filter((_, j) => j !== i).map((x) => x.id);
            await api(`/playlists/${playlist}`, { method: 'PATCH', body: { tracks: ids } });
            onChange && onChange();
          } }, '−')] : null,
        h('button', { 'aria-label': `Edit the tags of ${t.title}`, title: 'Edit tags', onclick: () => editTags(t, onChange) }, '✎'),
        h('button', { class: 'danger', 'aria-label': `Delete ${t.title}`, title: 'Delete', onclick: () => deleteTrack(t, onChange) }, '✕')));
    if (playlist) dragReorder(row, body, async () => {
      const ids = [...body.children].map((r) => Number(r.dataset.id));
      await api(`/playlists/${playlist}`, { method: 'PATCH', body: { tracks: ids } });
      onChange && onChange();
    });
    body.append(row);
  });
  markPlaying(body);
  return h('table', { class: 'tracks' },
    h('thead', {}, h('tr', {}, h('th', {}, '#'), h('th', {}, 'Title'), h('th', { class: 'col-artist' }, 'Artist'),
      h('th', { class: 'col-album' }, 'Album'), h('th', {}, 'Time'), h('th', {}, h('span', { class: 'visually-hidden' }, 'Actions')))), body);
}

// Moves one entry of a playlist (buttons: the keyboard way to do what dragging does).
async function reorderPlaylist(id, tracks, from, to, after) {
  const ids = tracks.map((t) => t.id);
  const [x] = ids.splice(from, 1);
  ids.splice(to, 0, x);
  await api(`/playlists/${id}`, { method: 'PATCH', body: { tracks: ids } });
  after && after();
}

function markPlaying(root = document) {
  const id = player.current?.id;
  for (const r of root.querySelectorAll('tr[data-id]')) r.classList.toggle('playing', Number(r.dataset.id) === id);
}

// Drag a row to reorder its siblings (HTML5 drag and drop); `done` runs after a drop.
function dragReorder(row, parent, done) {
  row.draggable = true;
  row.addEventListener('dragstart', (e) => { e.dataTransfer.effectAllowed = 'move'; parent.dragging = row; });
  row.addEventListener('dragover', (e) => { e.preventDefault(); row.classList.add('drop-target'); });
  row.addEventListener('dragleave', () => row.classList.remove('drop-target'));
  row.addEventListener('drop', (e) => {
    e.preventDefault();
    row.classList.remove('drop-target');
    const moving = parent.dragging;
    if (moving && moving !== row) { parent.insertBefore(moving, row); done(); }
  });
}

async function addToPlaylist(ids) {
  const lists = await playlists();
  const names = lists.map((p, i) => `${i + 1}. ${p.name}`).join('\n');
  const answer = prompt(`Add to which playlist? Type its number, or a new name.\n${names}`);
  if (!answer) return;
  const n = Number(answer);
  try {
    if (Number.isInteger(n) && lists[n - 1]) await api(`/playlists/${lists[n - 1].id}/tracks`, { method: 'POST', body: { tracks: ids } });
    else await api('/playlists', { method: 'POST', body: { name: answer, tracks: ids } });
    playlistsCache.list = null;
    announce('Added to the playlist');
  } catch (e) { alert(e.message); }
}

async function editTags(t, after) {
  const v = await dialog(`Edit “${t.title}”`, [
    { name: 'title', label: 'Title', value: t.title, required: true },
    { name: 'artist', label: 'Artist', value: t.artist },
    { name: 'album', label: 'Album', value: t.album },
    { name: 'album_artist', label: 'Album artist', value: t.album_artist },
    { name: 'track_number', label: 'Track number', value: t.track_number ?? '', type: 'number' },
    { name: 'disc_number', label: 'Disc number', value: t.disc_number ?? '', type: 'number' },
    { name: 'year', label: 'Year', value: t.year ?? '', type: 'number' },
    { name: 'genre', label: 'Genre', value: t.genre ?? '' },
  ], 'Save');
  if (!v) return;
  const num = (s) => (s === '' ? null : Number(s));
  try {
    await api(`/tracks/${t.id}`, { method: 'PATCH', body: {
      title: v.title, artist: v.artist, album: v.album, album_artist: v.album_artist || null,
      track_number: num(v.track_number), disc_number: num(v.disc_number), year: num(v.year), genre: v.genre || null,
    } });
    announce('Tags saved');
    after ? after() : route();
  } catch (e) { alert(e.message); }
}

async function deleteTrack(t, after) {
  if (!confirm(`Delete “${t.title}” from your library? This cannot be undone.`)) return;
  try {
    await api(`/tracks/${t.id}`, { method: 'DELETE' });
    announce(`Deleted ${t.title}`);
    after ? after() : route();
  } catch (e) { alert(e.message); }
}

// Tracks come without a starred flag; mark them from the favourites list.
async function withStars(tracks) {
  const favs = new Set((await api('/favourites')).items.map((t) => t.id));
  for (const t of tracks) t.starred = favs.has(t.id);
  return tracks;
}

// ---------------------------------------------------------------- views

const view = () => $('#view');
function show(...nodes) {
  view().replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined && n !== false));
  view().scrollTop = 0;
}

function albumGrid(albums) {
  return h('div', { class: 'grid' }, albums.map((a) => h('a', { class: 'tile', href: `#/album/${a.id}` },
    cover(a.has_cover ? `/albums/${a.id}/cover` : null), h('span', { class: 't1' }, a.title), h('span', { class: 't2' }, [a.artist, a.year].filter(Boolean).join(' · ')))));
}

// A paged list: loads `limit` at a time while a sentinel at the bottom scrolls into view.
function paged(path, render, limit = 120) {
  const box = h('div');
  const sentinel = h('div', { 'aria-hidden': 'true' });
  let offset = 0, total = Infinity, busy = false;
  const more = async () => {
    if (busy || offset >= total) return;
    busy = true;
    const sep = path.includes('?') ? '&' : '?';
    const r = await api(`${path}${sep}limit=${limit}&offset=${offset}`);
    total = r.total; offset += r.items.length;
    box.append(await render(r.items));
    busy = false;
    if (offset >= total) io.disconnect();
  };
  const io = new IntersectionObserver((e) => { if (e.some((x) => x.isIntersecting)) more(); });
  io.observe(sentinel);
  return h('div', {}, box, sentinel);
}

const views = {
  async albums(params) {
    const sort = params.get('sort') || 'artist';
    const select = h('select', { 'aria-label': 'Sort albums', onchange: (e) => { location.hash = `#/albums?sort=${e.target.value}`; } },
      ['artist', 'title', 'year', 'recent'].map((s) => h('option', { value: s, selected: s === sort }, `By ${s === 'recent' ? 'date added' : s}`)));
    show(h('h1', {}, 'Albums'), h('div', { class: 'toolbar' }, select), paged(`/albums?sort=${sort}`, albumGrid));
  },
  async recent() {
    const r = await api('/albums?sort=recent&limit=60');
    show(h('h1', {}, 'Recently added'), albumGrid(r.items));
  },
  async album(params, id) {
    const r = await api(`/albums/${id}`);
    const a = r.album || r;
    const tracks = await withStars(r.tracks);
    show(h('div', { class: 'album-head' }, cover(a.has_cover ? `/albums/${a.id}/cover` : null, 'cover', 600),
      h('div', {}, h('h1', {}, a.title), h('div', { class: 'meta' }, h('a', { href: `#/artist/${a.artist_id}` }, a.artist),
        [a.year, `${a.track_count} track${a.track_count === 1 ? '' : 's'}`, fmtTime(a.duration), a.genre].filter(Boolean).map((x) => ` · ${x}`)),
      h('div', { class: 'toolbar' }, h('button', { class: 'primary', onclick: () => player.playList(tracks, 0) }, '▶ Play'),
        h('button', { onclick: () => player.playList(tracks, 0, true) }, '⤮ Shuffle'),
        h('button', { onclick: () => player.enqueue(tracks) }, '+ Queue'),
        h('button', { onclick: () => addToPlaylist(tracks.map((t) => t.id)) }, '♫ Add to playlist')))),
    trackTable(tracks, { onChange: route }));
  },
  async artists() {
    show(h('h1', {}, 'Artists'), paged('/artists', (items) => h('div', { class: 'grid' }, items.map((a) => h('a', { class: 'tile', href: `#/artist/${a.id}` },
      h('span', { class: 't1' }, a.name), h('span', { class: 't2' }, `${a.album_count} album${a.album_count === 1 ? '' : 's'} · ${a.track_count} track${a.track_count === 1 ? '' : 's'}`))))));
  },
  async artist(params, id) {
    const r = await api(`/artists/${id}`);
    show(h('h1', {}, (r.artist || r).name), albumGrid(r.albums));
  },
  async tracks() {
    show(h('h1', {}, 'Tracks'), paged('/tracks', async (items) => trackTable(await withStars(items), { numbers: 'index', onChange: route }), 200));
  },
  async favourites() {
    const r = await api('/favourites');
    for (const t of r.items) t.starred = true;
    show(h('h1', {}, 'Favourites'), r.items.length ? trackTable(r.items, { numbers: 'index', onChange: route }) : h('p', { class: 'note' }, 'Star tracks with ☆ to find them here.'));
  },
  async playlists() {
    playlistsCache.list = null;
    const lists = await playlists();
    show(h('h1', {}, 'Playlists'), h('div', { class: 'toolbar' }, h('button', { class: 'primary', onclick: async () => {
      const v = await dialog('New playlist', [{ name: 'name', label: 'Name', required: true }], 'Create');
      if (!v) return;
      try { const p = await api('/playlists', { method: 'POST', body: { name: v.name, tracks: [] } }); location.hash = `#/playlist/${p.id}`; } catch (e) { alert(e.message); }
    } }, '+ New playlist')),
    lists.length ? h('ul', {}, lists.map((p) => h('li', {}, h('a', { href: `#/playlist/${p.id}` }, p.name), ` · ${p.track_count} tracks · ${fmtTime(p.duration)}`)))
      : h('p', { class: 'note' }, 'No playlists yet.'));
  },
  async playlist(params, id) {
    const p = await api(`/playlists/${id}`);
    const tracks = await withStars(p.tracks);
    const reload = () => views.playlist(params, id);
    show(h('h1', {}, p.name), h('div', { class: 'toolbar' },
      h('button', { class: 'primary', onclick: () => player.playList(tracks, 0), disabled: !tracks.length }, '▶ Play'),
      h('button', { onclick: () => player.playList(tracks, 0, true), disabled: !tracks.length }, '⤮ Shuffle'),
      h('button', { onclick: async () => {
        const v = await dialog('Rename playlist', [{ name: 'name', label: 'Name', value: p.name, required: true }], 'Rename');
        if (v) { await api(`/playlists/${id}`, { method: 'PATCH', body: { name: v.name } }); playlistsCache.list = null; reload(); }
      } }, 'Rename'),
      h('button', { class: 'danger', onclick: async () => {
        if (!confirm(`Delete the playlist “${p.name}”? Its tracks stay in your library.`)) return;
        await api(`/playlists/${id}`, { method: 'DELETE' }); playlistsCache.list = null; location.hash = '#/playlists';
      } }, 'Delete')),
    tracks.length ? [h('p', { class: 'note' }, 'Drag rows, or use ↑ and ↓, to reorder.'), trackTable(tracks, { numbers: 'index', playlist: id, onChange: reload })]
      : h('p', { class: 'note' }, 'Add tracks with ♫ from any list.'));
  },
  async search(params) {
    const q = params.get('q') || '';
    if ($('#search').value !== q) $('#search').value = q;
    if (!q.trim()) return show(h('h1', {}, 'Search'), h('p', { class: 'note' }, 'Type in the search box.'));
    const r = await api(`/search?q=${encodeURIComponent(q)}&limit=30`);
    if ((params.get('q') || '') !== new URLSearchParams(location.hash.split('?')[1] || '').get('q')) return; // a newer query won
    const tracks = await withStars(r.tracks);
    show(h('h1', {}, `Results for “${q}”`),
      r.artists.length ? [h('h2', {}, 'Artists'), h('ul', {}, r.artists.map((a) => h('li', {}, h('a', { href: `#/artist/${a.id}` }, a.name))))] : null,
      r.albums.length ? [h('h2', {}, 'Albums'), albumGrid(r.albums)] : null,
      tracks.length ? [h('h2', {}, 'Tracks'), trackTable(tracks, { numbers: 'index' })] : null,
      !(r.artists.length || r.albums.length || tracks.length) ? h('p', { class: 'note' }, 'Nothing found.') : null);
  },
  async upload() { show(uploader.view()); },
  async admin() {
    if (!me?.is_admin) return show(h('p', {}, 'Administrators only.'));
    const [{ items: users }, st] = await Promise.all([api('/admin/users'), api('/admin/storage')]);
    const usage = new Map(st.users.map((u) => [u.id, u]));
    const reload = () => views.admin();
    const act = (fn) => async () => { try { await fn(); reload(); } catch (e) { alert(e.message); } };
    show(h('h1', {}, 'Administration'),
      h('h2', {}, 'Storage'),
      h('div', { class: 'stats' },
        h('div', { class: 'stat' }, h('b', {}, fmtBytes(st.logical_bytes)), 'uploaded by users'),
        h('div', { class: 'stat' }, h('b', {}, fmtBytes(st.physical_bytes)), 'stored'),
        h('div', { class: 'stat' }, h('b', {}, `${st.dedup_ratio}×`), 'deduplication'),
        h('div', { class: 'stat' }, h('b', {}, String(st.blobs)), 'blobs')),
      h('h2', {}, 'Users'),
      h('div', { class: 'toolbar' }, h('button', { class: 'primary', onclick: async () => {
        const v = await dialog('New user', [{ name: 'username', label: 'User name', required: true }, { name: 'password', label: 'Password', type: 'password', required: true, autocomplete: 'new-password' }], 'Create');
        if (v) act(() => api('/admin/users', { method: 'POST', body: v }))();
      } }, '+ New user')),
      h('table', { class: 'tracks' }, h('thead', {}, h('tr', {}, ['User', 'Tracks', 'Uses', 'Quota', ''].map((x) => h('th', {}, x)))),
        h('tbody', {}, users.map((u) => h('tr', {},
          h('td', {}, u.username, u.is_admin ? ' (admin)' : '', u.disabled ? ' — disabled' : ''),
          h('td', {}, String(usage.get(u.id)?.tracks ?? 0)),
          h('td', {}, fmtBytes(usage.get(u.id)?.bytes ?? 0)),
          h('td', {}, u.quota_bytes ? fmtBytes(u.quota_bytes) : 'none'),
          h('td', { class: 'acts' },
            h('button', { onclick: act(() => api(`/admin/users/${u.id}`, { method: 'PATCH', body: { disabled: !u.disabled } })) }, u.disabled ? 'Enable' : 'Disable'),
            h('button', { onclick: async () => {
              const v = await dialog(`Quota for ${u.username}`, [{ name: 'gb', label: 'Gigabytes (empty: no quota)', value: u.quota_bytes ? u.quota_bytes / 1e9 : '' }], 'Set');
              if (v) act(() => api(`/admin/users/${u.id}`, { method: 'PATCH', body: { quota_bytes: v.gb === '' ? null : Math.round(Number(v.gb) * 1e9) } }))();
            } }, 'Quota'),
            h('button', { onclick: async () => {
              const v = await dialog(`New password for ${u.username}`, [{ name: 'password', label: 'Password', type: 'password', required: true, autocomplete: 'new-password' }], 'Set');
              if (v) act(() => api(`/admin/users/${u.id}/password`, { method: 'PUT', body: v }))();
            } }, 'Password'),
            h('button', { class: 'danger', onclick: () => confirm(`Delete ${u.username} and their library?`) && act(() => api(`/admin/users/${u.id}`, { method: 'DELETE' }))() }, 'Delete')))))));
  },
};

async function route() {
  if (!me) return;
  const [path, query] = (location.hash.slice(1) || '/albums').split('?');
  const [, name, id] = path.split('/');
  const fn = views[name] || views.albums;
  for (const a of document.querySelectorAll('.side a')) a.toggleAttribute('aria-current', a.getAttribute('href') === `#/${name}`);
  for (const a of document.querySelectorAll('.side a[aria-current]')) a.setAttribute('aria-current', 'page');
  try {
    await fn(new URLSearchParams(query || ''), id);
  } catch (e) {
    if (e.status !== 401) show(h('p', { class: 'error' }, e.message));
  }
}
window.addEventListener('hashchange', route);

let searchTimer = null;
$('#search').addEventListener('input', (e) => {
  clearTimeout(searchTimer);
  const q = e.target.value;
  searchTimer = setTimeout(() => { location.hash = `#/search?q=${encodeURIComponent(q)}`; }, 150);
});

// ---------------------------------------------------------------- uploads

const AUDIO_EXT = /\.(mp3|flac|m4a|mp4|m4b|aac|alac|ogg|oga|opus|wav|wave)$/i;

const uploader = {
  items: [],
  running: 0,
  list: h('ul', { class: 'up-list', 'aria-label': 'Uploads' }),
  overall: h('progress', { max: 1, value: 0, 'aria-label': 'All uploads' }),
  summary: h('p', { class: 'note' }),
  view() {
    const input = h('input', { type: 'file', multiple: true, onchange: (e) => { this.add([...e.target.files]); e.target.value = ''; } });
    const folder = h('input', { type: 'file', multiple: true, webkitdirectory: true, onchange: (e) => { this.add([...e.target.files].filter((f) => AUDIO_EXT.test(f.name))); e.target.value = ''; } });
    const drop = h('div', { class: 'drop' }, 'Drop music files or folders here, or ',
      h('label', { class: 'link' }, h('u', {}, 'choose files'), h('span', { class: 'visually-hidden' }, input)), ' or ',
      h('label', { class: 'link' }, h('u', {}, 'a folder'), h('span', { class: 'visually-hidden' }, folder)), '.');
    drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
    drop.addEventListener('dragleave', () => drop.classList.remove('over'));
    drop.addEventListener('drop', async (e) => {
      e.preventDefault();
      drop.classList.remove('over');
      this.add(await filesFromDrop(e.dataTransfer));
    });
    return h('section', { class: 'uploader' }, h('h1', {}, 'Upload'), drop, h('div', { class: 'toolbar' }, this.overall, this.summary), this.list);
  },
  add(files) {
    for (const file of files) {
      const state = h('span', { class: 'state' }, 'Waiting');
      const bar = h('progress', { max: file.size || 1, value: 0, 'aria-label': `Progress of ${file.name}` });
      const toggle = h('button', { 'aria-label': `Pause ${file.name}` }, 'Pause');
      const li = h('li', {}, h('span', { class: 'name' }, file.webkitRelativePath || file.name), bar, toggle, state);
      const item = { file, li, bar, state, toggle, sent: 0, done: false, paused: false, upload: null };
      toggle.addEventListener('click', () => this.pause(item));
      this.items.push(item);
      this.list.append(li);
    }
    this.pump();
    this.refresh();
  },
  pause(item) {
    if (item.done) return;
    item.paused = !item.paused;
    item.toggle.textContent = item.paused ? 'Resume' : 'Pause';
    item.toggle.setAttribute('aria-label', `${item.paused ? 'Resume' : 'Pause'} ${item.file.name}`);
    if (item.paused && item.upload) { item.upload.abort(); item.state.textContent = 'Paused'; }
    if (!item.paused) { if (item.upload) { item.upload.start(); item.state.textContent = 'Uploading'; } else this.pump(); }
  },
  refresh() {
    const total = this.items.reduce((a, i) => a + i.file.size, 0) || 1;
    const sent = this.items.reduce((a, i) => a + (i.done ? i.file.size : i.sent), 0);
    this.overall.max = total; this.overall.value = sent;
    const done = this.items.filter((i) => i.done && !i.error).length, bad = this.items.filter((i) => i.error).length;
    this.summary.textContent = `${done} added, ${bad} rejected, ${this.items.length - done - bad} to go`;
  },
  pump() {
    while (this.running < 2) {
      const next = this.items.find((i) => !i.started && !i.paused);
      if (!next) return;
      next.started = true;
      this.running++;
      this.send(next).finally(() => { this.running--; this.refresh(); this.pump(); });
    }
  },
  finish(item, ok, text) {
    item.done = true;
    item.error = !ok;
    item.li.classList.add(ok ? 'done' : 'rejected');
    item.state.textContent = text;
    item.bar.value = item.bar.max;
    item.toggle.hidden = true;
    announce(`${item.file.name}: ${text}`);
  },
  async send(item) {
    try {
      const track = await instantUpload(item.file);
      if (track) return this.finish(item, true, `Added instantly: ${track.title}`);
    } catch (e) {
      if (e.status && e.status !== 422) return this.finish(item, false, `Rejected: ${e.message} (${e.code})`);
    }
    item.state.textContent = 'Uploading';
    await new Promise((resolve) => {
      item.upload = new tus.Upload(item.file, {
        endpoint: '/api/v1/uploads',
        headers: { Authorization: `Bearer ${store.token}` },
        metadata: { filename: item.file.name, filetype: item.file.type || 'application/octet-stream' },
        chunkSize: 64 * 1024 * 1024,
        retryDelays: [0, 1000, 3000, 5000],
        removeFingerprintOnSuccess: true,
        onProgress: (sent) => { item.sent = sent; item.bar.value = sent; this.refresh(); },
        onSuccess: async (payload) => {
          const id = payload?.lastResponse?.getHeader('Tonearm-Track-Id');
          let title = item.file.name;
          try { if (id) title = (await api(`/tracks/${id}`)).title; } catch { /* keep the file name */ }
          this.finish(item, true, `Added: ${title}`);
          resolve();
        },
        onError: (err) => {
          let msg = err.message;
          const res = err.originalResponse;
          try { const e = JSON.parse(res.getBody()).error; msg = `${e.message} (${e.code})`; } catch { /* not our JSON */ }
          this.finish(item, false, `Rejected: ${msg}`);
          resolve();
        },
      });
      item.upload.findPreviousUploads().then((prev) => {
        if (prev.length) item.upload.resumeFromPreviousUpload(prev[0]);
        if (!item.paused) item.upload.start();
      });
    });
  },
};

// Files from a drop, folders walked (webkitGetAsEntry); from folders only audio files.
async function filesFromDrop(dt) {
  const entries = [...dt.items].map((i) => i.webkitGetAsEntry && i.webkitGetAsEntry()).filter(Boolean);
  if (!entries.length) return [...dt.files];
  const out = [];
  const walk = async (entry, inFolder) => {
    if (entry.isFile) {
      const f = await new Promise((res, rej) => entry.file(res, rej));
      if (!inFolder || AUDIO_EXT.test(f.name)) out.push(f);
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
        if (!batch.length) break;
        for (const e of batch) await walk(e, true);
      }
    }
  };
  for (const e of entries) await walk(e, false);
  return out;
}

async function sha256Hex(buf) {
  const d = await crypto.subtle.digest('SHA-256', buf);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

// Proves possession of a file the server may already hold. Needs WebCrypto (a secure
// context: https or localhost) and reads the whole file once, so large files skip it.
async function instantUpload(file) {
  if (!globalThis.crypto?.subtle || file.size > 256e6 || file.size === 0) return null;
  const sha256 = await sha256Hex(await file.arrayBuffer());
  const c = await api('/uploads/instant', { method: 'POST', body: { sha256, size: file.size, filename: file.name } });
  const proofs = [];
  for (const r of c.ranges) proofs.push(await sha256Hex(await file.slice(r.offset, r.offset + r.length).arrayBuffer()));
  try {
    return await api(`/uploads/instant/${c.challenge}`, { method: 'POST', body: { proofs } });
  } catch (e) {
    if (e.code === 'proof_failed') return null;
    throw e;
  }
}

// ---------------------------------------------------------------- player

const player = {
  queue: [],
  order: [],
  pos: -1,
  shuffle: false,
  repeat: 'off',
  els: [$('#audio-a'), $('#audio-b')],
  active: 0,
  hls: [null, null],
  prepared: null, // {slot, pos}
  scrobbled: false,
  codec: null,
  get audio() { return this.els[this.active]; },
  get current() { return this.pos >= 0 ? this.queue[this.order[this.pos]] : null; },

  // Which HLS the browser plays: Opus in fMP4 through MediaSource where supported (smaller
  // at equal quality), else AAC; native HLS (Safari) takes the full master playlist.
  mode() {
    if (this.codec) return this.codec;
    const ms = globalThis.MediaSource || globalThis.ManagedMediaSource;
    if (globalThis.Hls && Hls.isSupported() && ms) {
      this.codec = ms.isTypeSupported('audio/mp4; codecs="opus"') ? 'hls-opus' : ms.isTypeSupported('audio/mp4; codecs="mp4a.40.2"') ? 'hls-aac' : 'progressive';
    } else if (this.els[0].canPlayType('application/vnd.apple.mpegurl')) this.codec = 'native';
    else this.codec = 'progressive';
    return this.codec;
  },

  async load(slot, track) {
    const urls = await api(`/tracks/${track.id}/playback`);
    const el = this.els[slot];
    this.release(slot, false);
    const mode = this.mode();
    if (mode === 'hls-opus' || mode === 'hls-aac') {
      // No bandwidth probe before the first segment (it costs a fragment and a timer tick,
      // ~100 ms): audio rungs are small, so start on the top one (the lowest with Data
      // saver) and let ABR step down if the network says so.
      const hls = new Hls({ maxBufferLength: 30, testBandwidth: false, capLevelToPlayerSize: false });
      hls.on(Hls.Events.MANIFEST_PARSED, (_, data) => {
        const low = store.quality === 'low';
        hls.startLevel = low ? 0 : data.levels.length - 1;
        hls.autoLevelCapping = low ? 0 : -1;
      });
      hls.loadSource(mode === 'hls-opus' ? `${urls.hls}&codecs=opus` : urls.hls_aac);
      hls.attachMedia(el);
      hls.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) { console.warn('hls error', d); announce(`Playback error: ${d.details}`); } });
      this.hls[slot] = hls;
    } else if (mode === 'native') el.src = urls.hls;
    else el.src = urls.stream.aac;
    el.volume = store.volume;
  },

  // Frees a slot's hls.js instance, and its source unless it is about to get a new one.
  release(slot, clearSource = true) {
    if (this.hls[slot]) { this.hls[slot].destroy(); this.hls[slot] = null; }
    if (clearSource) this.els[slot].removeAttribute('src');
  },

  playList(tracks, start, shuffle = false) {
    this.queue = tracks.slice();
    this.shuffle = shuffle;
    this.reorder(start);
    this.go(0);
  },
  reorder(first) {
    const idx = this.queue.map((_, i) => i);
    if (this.shuffle) {
      for (let i = idx.length - 1; i > 0; i--) { const j = Math.floor(Math.random() * (i + 1)); [idx[i], idx[j]] = [idx[j], idx[i]]; }
      const k = idx.indexOf(first);
      if (k > 0) [idx[0], idx[k]] = [idx[k], idx[0]];
      this.order = idx;
    } else this.order = idx;
    $('#shuffle').setAttribute('aria-pressed', String(this.shuffle));
  },
  enqueue(tracks, next = false) {
    const base = this.queue.length;
    this.queue.push(...tracks);
    const added = tracks.map((_, i) => base + i);
    if (next && this.pos >= 0) this.order.splice(this.pos + 1, 0, ...added);
    else this.order.push(...added);
    this.dropPrepared();
    if (this.pos < 0) this.go(0);
    this.renderQueue();
    announce(`${tracks.length} track${tracks.length === 1 ? '' : 's'} queued`);
  },
  dropPrepared() {
    if (!this.prepared) return;
    const slot = this.prepared.slot;
    this.release(slot);
    this.prepared = null;
  },
  async go(pos) {
    if (pos < 0 || pos >= this.order.length) return;
    const old = this.audio;
    const ready = this.prepared && this.prepared.pos === pos;
    this.pos = pos;
    this.scrobbled = false;
    old.pause();
    if (ready) this.active = this.prepared.slot;
    this.prepared = null;
    const track = this.current;
    this.showTrack(track);
    const other = 1 - this.active;
    if (!ready) this.release(other, false);
    try {
      if (!ready) await this.load(this.active, track);
      if (this.current !== track) return;
      await this.audio.play();
    } catch (e) {
      if (e.name !== 'AbortError') announce(`Cannot play ${track.title}: ${e.message}`);
    }
    this.release(other);
  },
  // The next track is loaded on the idle element before this one ends, so the switch is
  // immediate.
  prepareNext() {
    const next = this.nextPos();
    if (next === null || this.prepared || next === this.pos) return;
    const slot = 1 - this.active;
    this.prepared = { slot, pos: next };
    this.load(slot, this.queue[this.order[next]]).catch(() => { this.prepared = null; });
  },
  nextPos() {
    if (this.repeat === 'one') return this.pos;
    if (this.pos + 1 < this.order.length) return this.pos + 1;
    return this.repeat === 'all' && this.order.length ? 0 : null;
  },
  next() { const n = this.pos + 1 < this.order.length ? this.pos + 1 : (this.repeat === 'all' ? 0 : null); if (n !== null) this.go(n); },
  prev() { if (this.audio.currentTime > 3 || this.pos === 0) this.audio.currentTime = 0; else this.go(this.pos - 1); },
  toggle() {
    if (!this.current) return;
    if (this.audio.paused) this.audio.play().catch(() => {}); else this.audio.pause();
  },
  stop() {
    for (const [i, el] of this.els.entries()) { el.pause(); this.release(i); }
    this.queue = []; this.order = []; this.pos = -1; this.prepared = null;
  },
  showTrack(t) {
    $('#np-title').textContent = t.title;
    $('#np-artist').textContent = `${t.artist} — ${t.album}`;
    document.title = `${t.title} · ${t.artist} — Tonearm`;
    const img = $('#np-cover');
    img.removeAttribute('src');
    const path = t.has_cover ? `/tracks/${t.id}/cover?size=300` : null;
    if (path) coverUrl(path).then((u) => { if (u && this.current === t) img.src = u; });
    if ('mediaSession' in navigator) {
      const meta = { title: t.title, artist: t.artist, album: t.album };
      navigator.mediaSession.metadata = new MediaMetadata(meta);
      if (path) coverUrl(path).then((u) => { if (u && this.current === t) navigator.mediaSession.metadata = new MediaMetadata({ ...meta, artwork: [{ src: u, sizes: '300x300' }] }); });
    }
    markPlaying();
    this.renderQueue();
  },
  renderQueue() {
    const list = $('#queue-list');
    list.replaceChildren(...this.order.map((qi, p) => {
      const t = this.queue[qi];
      const li = h('li', { class: p === this.pos ? 'current' : '', dataset: { p } },
        h('button', { class: 'title', onclick: () => this.go(p) }, `${t.title} — ${t.artist}`),
        h('button', { 'aria-label': `Move ${t.title} up`, onclick: () => this.move(p, p - 1) }, '↑'),
        h('button', { 'aria-label': `Move ${t.title} down`, onclick: () => this.move(p, p + 1) }, '↓'),
        h('button', { 'aria-label': `Remove ${t.title} from the queue`, onclick: () => this.remove(p) }, '✕'));
      dragReorder(li, list, () => {
        const cur = this.order[this.pos];
        this.order = [...list.children].map((x) => this.order[Number(x.dataset.p)]);
        this.pos = this.order.indexOf(cur);
        this.dropPrepared();
        this.renderQueue();
      });
      return li;
    }));
  },
  move(from, to) {
    if (to < 0 || to >= this.order.length) return;
    const cur = this.order[this.pos];
    const [x] = this.order.splice(from, 1);
    this.order.splice(to, 0, x);
    this.pos = this.order.indexOf(cur);
    this.dropPrepared();
    this.renderQueue();
  },
  remove(p) {
    if (p === this.pos) return;
    this.order.splice(p, 1);
    if (p < this.pos) this.pos--;
    this.dropPrepared();
    this.renderQueue();
  },
};

for (const el of player.els) {
  el.addEventListener('timeupdate', () => {
    if (el !== player.audio) return;
    const d = el.duration, t = el.currentTime;
    const seek = $('#seek');
    if (Number.isFinite(d)) { seek.max = d; $('#t-total').textContent = fmtTime(d); }
    if (!seek.matches(':active')) seek.value = t;
    $('#t-now').textContent = fmtTime(t);
    if (Number.isFinite(d) && d - t < 20) player.prepareNext();
    if (!player.scrobbled && (t > 240 || (Number.isFinite(d) && t > d / 2))) {
      player.scrobbled = true;
      api(`/tracks/${player.current.id}/scrobble`, { method: 'POST', body: {} }).catch(() => {});
    }
    if ('mediaSession' in navigator && Number.isFinite(d)) {
      try { navigator.mediaSession.setPositionState({ duration: d, position: Math.min(t, d), playbackRate: el.playbackRate }); } catch { /* not supported */ }
    }
  });
  el.addEventListener('play', () => { if (el === player.audio) { $('#play').classList.add('playing'); $('#play').setAttribute('aria-label', 'Pause'); } });
  el.addEventListener('pause', () => { if (el === player.audio) { $('#play').classList.remove('playing'); $('#play').setAttribute('aria-label', 'Play'); } });
  el.addEventListener('ended', () => {
    if (el !== player.audio) return;
    const n = player.nextPos();
    if (n !== null) player.go(n);
  });
}

$('#play').addEventListener('click', () => player.toggle());
$('#next').addEventListener('click', () => player.next());
$('#prev').addEventListener('click', () => player.prev());
$('#seek').addEventListener('input', (e) => { player.audio.currentTime = Number(e.target.value); });
$('#volume').value = store.volume;
function setVolume(v) {
  store.volume = Math.min(1, Math.max(0, v));
  for (const el of player.els) el.volume = store.volume;
  $('#volume').value = store.volume;
}
$('#volume').addEventListener('input', (e) => setVolume(Number(e.target.value)));
$('#quality').value = store.quality;
$('#quality').addEventListener('change', (e) => {
  store.quality = e.target.value;
  for (const x of player.hls) if (x) { x.autoLevelCapping = store.quality === 'low' ? 0 : -1; if (store.quality === 'low') x.nextLevel = 0; }
});
$('#shuffle').addEventListener('click', () => {
  const cur = player.order[player.pos];
  player.shuffle = !player.shuffle;
  player.reorder(cur ?? 0);
  if (cur !== undefined) { player.order.splice(player.order.indexOf(cur), 1); player.order.unshift(cur); player.pos = 0; }
  player.dropPrepared();
  player.renderQueue();
});
$('#repeat').addEventListener('click', () => {
  player.repeat = { off: 'all', all: 'one', one: 'off' }[player.repeat];
  const b = $('#repeat');
  b.setAttribute('aria-pressed', String(player.repeat !== 'off'));
  b.setAttribute('aria-label', `Repeat: ${player.repeat}`);
  b.textContent = player.repeat === 'one' ? '🔂' : '⟳';
  player.dropPrepared();
});
function setQueueOpen(open) {
  $('#queue').hidden = !open;
  $('#shell').classList.toggle('with-queue', open);
  $('#queue-toggle').setAttribute('aria-expanded', String(open));
  if (open) player.renderQueue();
}
$('#queue-toggle').addEventListener('click', () => setQueueOpen($('#queue').hidden));
$('#queue-close').addEventListener('click', () => setQueueOpen(false));
$('#queue-clear').addEventListener('click', () => {
  const cur = player.order[player.pos];
  player.order = cur === undefined ? [] : [cur];
  player.pos = cur === undefined ? -1 : 0;
  player.dropPrepared();
  player.renderQueue();
});

if ('mediaSession' in navigator) {
  const ms = navigator.mediaSession;
  ms.setActionHandler('play', () => player.audio.play());
  ms.setActionHandler('pause', () => player.audio.pause());
  ms.setActionHandler('previoustrack', () => player.prev());
  ms.setActionHandler('nexttrack', () => player.next());
  try { ms.setActionHandler('seekto', (d) => { player.audio.currentTime = d.seekTime; }); } catch { /* older browsers */ }
}

// Space plays and pauses, arrows seek (left/right) and change the volume (up/down),
// except while typing or on a control that uses those keys itself.
document.addEventListener('keydown', (e) => {
  const t = e.target;
  if (e.ctrlKey || e.metaKey || e.altKey || $('#dialog').open) return;
  if (t.closest('input, select, textarea, [contenteditable]')) return;
  if (e.key === ' ' && !t.closest('button, a')) { e.preventDefault(); player.toggle(); }
  else if (e.key === 'ArrowRight') { player.audio.currentTime += 10; }
  else if (e.key === 'ArrowLeft') { player.audio.currentTime = Math.max(0, player.audio.currentTime - 10); }
  else if (e.key === 'ArrowUp') { e.preventDefault(); setVolume(store.volume + 0.05); }
  else if (e.key === 'ArrowDown') { e.preventDefault(); setVolume(store.volume - 0.05); }
});

// For tests and diagnostics: what the page plays and how.
window.tonearm = { player, api, mode: () => player.mode() };

// ---------------------------------------------------------------- start

window.addEventListener('load', () => {
  if (store.token) signedIn().catch(() => signedOut()); else signedOut();
});
