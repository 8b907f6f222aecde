// The views in #view, chosen by the location hash (route): albums, recently added, an
// album, artists, an artist, tracks, favourites, playlists, a playlist, search results,
// upload (the uploader, upload.js) and administration; and the track tables they share,
// with their row actions (play, queue, favourite, add to a playlist, reorder a playlist,
// edit tags, delete).

import { api, session } from './api.js';
import { $, h, fmtTime, fmtBytes, announce, cover, dialog, dragReorder, markPlaying } from './ui.js';
import { player } from './player.js';
import { uploader } from './upload.js';

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
  markPlaying(body, player.current?.id);
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
// A page that fails to load says so, with a button to try again (the list so far stays).
function paged(path, render, limit = 120) {
  const box = h('div');
  const sentinel = h('div', { 'aria-hidden': 'true' });
  const problem = h('p', { class: 'error', role: 'alert', hidden: true });
  let offset = 0, total = Infinity, busy = false;
  const more = async () => {
    if (busy || offset >= total) return;
    busy = true;
    problem.hidden = true;
    try {
      const sep = path.includes('?') ? '&' : '?';
      const r = await api(`${path}${sep}limit=${limit}&offset=${offset}`);
      total = r.items.length ? r.total : offset; offset += r.items.length;
      box.append(await render(r.items));
    } catch (e) {
      if (e.status === 401) return; // signing in again is asked for elsewhere
      problem.replaceChildren(`Could not load more: ${e.message} `, h('button', { onclick: () => more() }, 'Try again'));
      problem.hidden = false;
    } finally {
      busy = false;
    }
    if (offset >= total) io.disconnect();
  };
  const io = new IntersectionObserver((e) => { if (e.some((x) => x.isIntersecting)) more(); });
  io.observe(sentinel);
  return h('div', {}, box, problem, sentinel);
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
    if (!session.me?.is_admin) return show(h('p', {}, 'Administrators only.'));
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

export async function route() {
  if (!session.me) return;
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

// Routing on hash changes, and the search box (it routes to #/search as one types).
export function wireViews() {
  window.addEventListener('hashchange', route);
  let searchTimer = null;
  $('#search').addEventListener('input', (e) => {
    clearTimeout(searchTimer);
    const q = e.target.value;
    searchTimer = setTimeout(() => { location.hash = `#/search?q=${encodeURIComponent(q)}`; }, 150);
  });
}
