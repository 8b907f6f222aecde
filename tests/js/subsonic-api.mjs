// Drives subsonic-api (a published Subsonic / OpenSubsonic client library, unchanged)
// against a live Tonearm.
// Usage: node subsonic-api.mjs BASE_URL USER PASSWORD OTHER_USER OTHER_PASSWORD [ORIGINAL_PATH]
//   BASE_URL like http://127.0.0.1:PORT; USER owns testdata/library, OTHER_USER only
//   testdata/library/Misc; ORIGINAL_PATH is the file of "Jóga" (default: testdata's).
// The library calls /rest/<method>.view with f=json, v=1.16.1 and token auth (u, t =
// md5(password + salt), s = a fresh random salt each call), by GET or, with `post: true`,
// as a form POST with every parameter in the body. Its JSON methods resolve to the
// `subsonic-response` object, failed ones included (it never throws on status "failed");
// stream, download and getCoverArt resolve to the fetch Response.
// Prints one JSON line of what it saw; exits 1 with {"failed": "...", ...} on a failed check.
import { SubsonicAPI } from 'subsonic-api';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const [, , base, user, password, otherUser, otherPassword, originalArg] = process.argv;
const originalPath = originalArg || join(here, '../../testdata/library/Björk - Homogenic/02 Jóga.flac');
const tmp = mkdtempSync(join(tmpdir(), 'subsonic-api-'));
const out = {};
let last = null; // the last request the library sent, and what came back, for a failure's report

function done(code, line) {
  rmSync(tmp, { recursive: true, force: true });
  console.log(JSON.stringify(line));
  process.exit(code);
}

function check(cond, what) {
  if (!cond) done(1, { failed: what, ...out, last });
}

// The library takes a fetch implementation: this one only notes what went by.
function recording(input, init = {}) {
  const url = new URL(String(input));
  last = { method: init.method || 'GET', path: url.pathname, query: url.search || undefined, body: init.body || undefined };
  return fetch(input, init).then((res) => {
    last.status = res.status;
    last.contentType = res.headers.get('content-type');
    return res;
  });
}

const client = (auth, opts = {}) => new SubsonicAPI({ url: base, auth, fetch: recording, ...opts });
const alice = client({ username: user, password });
const alicePost = client({ username: user, password }, { post: true });
const bob = client({ username: otherUser, password: otherPassword });
const wrong = client({ username: user, password: `${password} but wrong` });

const ok = (r) => r && r.status === 'ok';
const code = (r) => (r && r.status === 'failed' ? r.error?.code : undefined);
const ids = (list) => (list || []).map((x) => x.id);

// ffprobe's codec name and duration (seconds) of `bytes`.
function probe(name, bytes) {
  const path = join(tmp, name);
  writeFileSync(path, bytes);
  const text = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'a:0', '-show_entries', 'stream=codec_name:format=duration', '-of', 'json', path]).toString();
  const j = JSON.parse(text);
  return { codec: j.streams?.[0]?.codec_name, secs: Number(j.format?.duration) };
}

try {
  // Sign-in: token auth by GET, and the same by form POST (the library's `post` option).
  check(ok(await alice.ping()), 'ping with token auth (GET)');
  out.ping_get = last.method;
  const ext = await alice.getOpenSubsonicExtensions();
  out.extensions = (ext.openSubsonicExtensions || []).map((e) => e.name).sort();
  check(out.extensions.includes('formPost'), 'formPost extension advertised');
  check(ok(await alicePost.ping()), 'ping with token auth (POST)');
  out.ping_post = last.method;
  check(last.method === 'POST' && !last.query && /(^|&)t=/.test(last.body), 'POST mode sends the credentials in the body');

  // Browse: artists by letter → artist → album → songs → song.
  const artists = await alice.getArtists();
  check(ok(artists), 'getArtists');
  const bjork = (artists.artists?.index || []).flatMap((i) => i.artist || []).filter((a) => a.name === 'Björk');
  check(bjork.length === 1, 'Björk in getArtists');
  const artist = await alice.getArtist({ id: bjork[0].id });
  out.albums = (artist.artist?.album || []).map((a) => a.name);
  check(ok(artist) && out.albums.includes('Homogenic'), 'getArtist lists Homogenic');
  const albumId = artist.artist.album.find((a) => a.name === 'Homogenic').id;
  const album = await alice.getAlbum({ id: albumId });
  const songs = album.album?.song || [];
  out.songs = songs.map((s) => s.title);
  check(ok(album) && JSON.stringify(out.songs) === JSON.stringify(['Hunter', 'Jóga']), 'getAlbum songs');
  const joga = songs[1];
  const song = await alice.getSong({ id: joga.id });
  check(ok(song) && song.song.title === 'Jóga' && song.song.albumId === albumId, 'getSong');
  const byPost = await alicePost.getSong({ id: joga.id });
  check(ok(byPost) && byPost.song.id === joga.id, 'getSong by POST');

  // Search: accents folded either way; the empty query pages through every song once.
  for (const query of ['joga', 'Jóga']) {
    const r = await alice.search3({ query });
    const titles = (r.searchResult3?.song || []).map((s) => s.title);
    out[`search_${query}`] = titles;
    check(ok(r) && titles.includes('Jóga'), `search3 "${query}" finds Jóga`);
  }
  for (const [label, query] of [['empty', ''], ['quotes', '""']]) {
    const seen = [];
    for (let page = 0; page < 10; page++) {
      const r = await alice.search3({ query, artistCount: 0, albumCount: 0, songCount: 5, songOffset: seen.length });
      check(ok(r), `search3 ${label} query page ${page}`);
      const got = ids(r.searchResult3?.song);
      check(got.length <= 5, `search3 ${label} query honours songCount=5`);
      if (got.length === 0) break;
      seen.push(...got);
    }
    out[`songs_synced_${label}`] = seen.length;
    check(seen.length === 12 && new Set(seen).size === 12, `search3 ${label} query pages through all 12 songs once each`);
  }

  // Streams: the original byte for byte; MP3 at 128 kbit/s; MP3 from an offset.
  const original = readFileSync(originalPath);
  const raw = await alice.stream({ id: joga.id, format: 'raw' });
  const rawBytes = Buffer.from(await raw.arrayBuffer());
  out.raw = { status: raw.status, type: raw.headers.get('content-type'), bytes: rawBytes.length };
  check(raw.ok && rawBytes.equals(original), 'stream format=raw is the file on disk');
  const exact = probe('original.flac', original).secs;
  out.duration = { api: song.song.duration, file: exact };
  check(Math.abs(song.song.duration - exact) <= 0.5, 'getSong duration is the file duration in whole seconds');
  const mp3 = await alice.stream({ id: joga.id, format: 'mp3', maxBitRate: 128 });
  const mp3Probe = probe('joga.mp3', Buffer.from(await mp3.arrayBuffer()));
  out.mp3 = { status: mp3.status, type: mp3.headers.get('content-type'), ...mp3Probe };
  check(mp3.ok && mp3Probe.codec === 'mp3', 'stream format=mp3 is MP3');
  check(Math.abs(mp3Probe.secs - exact) <= 0.5, 'stream format=mp3 lasts as long as the song');
  const offset = 1;
  const late = await alice.stream({ id: joga.id, format: 'mp3', maxBitRate: 128, timeOffset: offset });
  const lateProbe = probe('late.mp3', Buffer.from(await late.arrayBuffer()));
  out.offset = { timeOffset: offset, status: late.status, ...lateProbe };
  check(late.ok && lateProbe.codec === 'mp3', 'stream with timeOffset is MP3');
  check(Math.abs(lateProbe.secs - (exact - offset)) <= 0.5, 'stream with timeOffset is shorter by the offset');

  // Cover art.
  const cover = await alice.getCoverArt({ id: album.album.coverArt || albumId });
  const coverBytes = Buffer.from(await cover.arrayBuffer());
  out.cover = { status: cover.status, type: cover.headers.get('content-type'), bytes: coverBytes.length };
  check(cover.ok && /^image\//.test(out.cover.type || '') && coverBytes.length > 0, 'getCoverArt is an image');

  // Playlists: create, list, read, add and remove, delete.
  const songIds = ids(songs);
  const made = await alice.createPlaylist({ name: 'subsonic-api trip', songId: songIds });
  check(ok(made) && made.playlist?.id, 'createPlaylist');
  const pl = made.playlist.id;
  const lists = await alice.getPlaylists();
  check(ok(lists) && ids(lists.playlists?.playlist).includes(pl), 'getPlaylists lists the new playlist');
  let got = await alice.getPlaylist({ id: pl });
  check(ok(got) && JSON.stringify(ids(got.playlist.entry)) === JSON.stringify(songIds), 'getPlaylist entries are the songs given');
  check(ok(await alice.updatePlaylist({ playlistId: pl, songIdToAdd: [songIds[0]], songIndexToRemove: [0] })), 'updatePlaylist');
  got = await alice.getPlaylist({ id: pl });
  out.playlist = ids(got.playlist?.entry).map((id) => songs.find((s) => s.id === id)?.title);
  check(ok(got) && JSON.stringify(ids(got.playlist.entry)) === JSON.stringify([songIds[1], songIds[0]]), 'updatePlaylist removed index 0 and appended');
  check(ok(await alice.deletePlaylist({ id: pl })), 'deletePlaylist');
  check(code(await alice.getPlaylist({ id: pl })) === 70, 'a deleted playlist is not found');
  check(!ids((await alice.getPlaylists()).playlists?.playlist).includes(pl), 'getPlaylists no longer lists it');

  // Star, unstar; rating.
  check(ok(await alice.star({ id: joga.id })), 'star');
  check(ids((await alice.getStarred2()).starred2?.song).includes(joga.id), 'getStarred2 has the starred song');
  check(ok(await alice.unstar({ id: joga.id })), 'unstar');
  check(!ids((await alice.getStarred2()).starred2?.song).includes(joga.id), 'getStarred2 drops the unstarred song');
  check(ok(await alice.setRating({ id: joga.id, rating: 4 })), 'setRating 4');
  out.userRating = (await alice.getSong({ id: joga.id })).song?.userRating;
  check(out.userRating === 4, 'getSong userRating is 4');

  // Scrobble: the play count goes up and the album is recent.
  const before = (await alice.getSong({ id: joga.id })).song?.playCount ?? 0;
  check(ok(await alice.scrobble({ id: joga.id, submission: true })), 'scrobble');
  const after = (await alice.getSong({ id: joga.id })).song?.playCount;
  out.playCount = [before, after];
  check(after === before + 1, 'scrobble raises playCount');
  const recent = await alice.getAlbumList2({ type: 'recent' });
  check(ok(recent) && ids(recent.albumList2?.album).includes(albumId), 'getAlbumList2 recent lists the album');

  // Lyrics: recorded as answered; only "not implemented" (error 0) is let through.
  out.lyrics = {};
  for (const [name, call] of [
    ['getLyricsBySongId', () => alice.getLyricsBySongId({ id: joga.id })],
    ['getLyrics', () => alice.getLyrics({ artist: 'Björk', title: 'Jóga' })],
  ]) {
    const r = await call();
    if (ok(r)) {
      out.lyrics[name] = name === 'getLyrics' ? r.lyrics : r.lyricsList;
      check(name === 'getLyrics' ? r.lyrics !== undefined : Array.isArray(r.lyricsList?.structuredLyrics), `${name} answer has its element`);
    } else {
      out.lyrics[name] = { error: r?.error };
      check(code(r) === 0, `${name} fails only as not implemented`);
    }
  }

  // Errors, in the envelope.
  out.errors = {
    wrong_password: code(await wrong.ping()),
    missing_id: code(await alice.getAlbum({})),
    unknown_id: code(await alice.getAlbum({ id: 'al-999999' })),
    other_users_album: code(await bob.getAlbum({ id: albumId })),
  };
  check(out.errors.wrong_password === 40, 'a wrong password is error 40');
  check(out.errors.missing_id === 10, 'getAlbum without id is error 10');
  check(out.errors.unknown_id === 70, 'an unknown album is error 70');
  check(out.errors.other_users_album === 70, "another user's album is error 70");
  check(ok(await bob.ping()), 'the other user signs in');
} catch (e) {
  done(1, { failed: `exception: ${e && e.stack ? e.stack.split('\n')[0] : e}`, ...out, last });
}
done(0, out);
