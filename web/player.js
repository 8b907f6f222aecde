// The player: two <audio> elements (the next track is loaded on the idle one before this
// one ends, so the switch is immediate), fed from the signed playback URLs through hls.js
// where MediaSource exists (the `Hls` global from /vendor/hls.light.min.js), native HLS in
// Safari, else a progressive stream. Owns the now-playing bar, the player controls, the
// queue panel, Media Session and the keyboard shortcuts; the order of play is a Queue
// (queue.js).

import { Queue } from './queue.js';
import { api, store, coverUrl } from './api.js';
import { $, h, fmtTime, announce, dragReorder, markPlaying } from './ui.js';

export const player = {
  queue: new Queue(),
  els: [$('#audio-a'), $('#audio-b')],
  active: 0,
  hls: [null, null],
  prepared: null, // {slot, pos}
  scrobbled: false,
  codec: null,
  get audio() { return this.els[this.active]; },
  get current() { return this.queue.current; },

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
    const first = this.queue.load(tracks, start, shuffle);
    // What was prepared belongs to the old queue.
    this.dropPrepared();
    this.showShuffle();
    this.go(first);
  },
  enqueue(tracks, next = false) {
    this.queue.append(tracks, next);
    this.dropPrepared();
    if (this.queue.pos < 0) this.go(0);
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
    if (!this.queue.goTo(pos)) return;
    const old = this.audio;
    const ready = this.prepared && this.prepared.pos === pos;
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
    const next = this.queue.autoNextPos();
    if (next === null || this.prepared || next === this.queue.pos) return;
    const slot = 1 - this.active;
    this.prepared = { slot, pos: next };
    this.load(slot, this.queue.at(next)).catch(() => { this.prepared = null; });
  },
  next() { const n = this.queue.nextPos(); if (n !== null) this.go(n); },
  prev() {
    const p = this.queue.prevPos();
    if (this.audio.currentTime > 3 || p === null) this.audio.currentTime = 0; else this.go(p);
  },
  toggle() {
    if (!this.current) return;
    if (this.audio.paused) this.audio.play().catch(() => {}); else this.audio.pause();
  },
  stop() {
    for (const [i, el] of this.els.entries()) { el.pause(); this.release(i); }
    this.queue.clear(); this.prepared = null;
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
    markPlaying(document, this.current?.id);
    this.renderQueue();
  },
  showShuffle() { $('#shuffle').setAttribute('aria-pressed', String(this.queue.shuffle)); },
  renderQueue() {
    const list = $('#queue-list');
    list.replaceChildren(...this.queue.list().map((t, p) => {
      const li = h('li', { class: p === this.queue.pos ? 'current' : '', dataset: { p } },
        h('button', { class: 'title', onclick: () => this.go(p) }, `${t.title} — ${t.artist}`),
        h('button', { 'aria-label': `Move ${t.title} up`, onclick: () => this.move(p, p - 1) }, '↑'),
        h('button', { 'aria-label': `Move ${t.title} down`, onclick: () => this.move(p, p + 1) }, '↓'),
        h('button', { 'aria-label': `Remove ${t.title} from the queue`, onclick: () => this.remove(p) }, '✕'));
      dragReorder(li, list, () => {
        this.queue.permute([...list.children].map((x) => Number(x.dataset.p)));
        this.dropPrepared();
        this.renderQueue();
      });
      return li;
    }));
  },
  move(from, to) {
    if (!this.queue.move(from, to)) return;
    this.dropPrepared();
    this.renderQueue();
  },
  // ✕ in the queue panel; on the current track it plays the one after it (or stops when
  // the queue is left empty).
  remove(p) {
    if (!this.queue.remove(p)) return;
    this.dropPrepared();
    if (this.queue.removedCurrent) {
      if (this.queue.pos >= 0) this.go(this.queue.pos); else this.stop();
    }
    this.renderQueue();
  },
  // Repeat one: the same track again from the start, without loading it again (a listen
  // more for the history).
  again() {
    this.scrobbled = false;
    this.audio.currentTime = 0;
    this.audio.play().catch(() => {});
  },
};

function setVolume(v) {
  store.volume = Math.min(1, Math.max(0, v));
  for (const el of player.els) el.volume = store.volume;
  $('#volume').value = store.volume;
}

function setQueueOpen(open) {
  $('#queue').hidden = !open;
  $('#shell').classList.toggle('with-queue', open);
  $('#queue-toggle').setAttribute('aria-expanded', String(open));
  if (open) player.renderQueue();
}

// The audio elements' events, the controls in the player bar and the queue panel, Media
// Session actions and the keyboard shortcuts.
export function wirePlayer() {
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
      const n = player.queue.autoNextPos();
      if (n === player.queue.pos) player.again();
      else if (n !== null) player.go(n);
    });
  }

  $('#play').addEventListener('click', () => player.toggle());
  $('#next').addEventListener('click', () => player.next());
  $('#prev').addEventListener('click', () => player.prev());
  $('#seek').addEventListener('input', (e) => { player.audio.currentTime = Number(e.target.value); });
  $('#volume').value = store.volume;
  $('#volume').addEventListener('input', (e) => setVolume(Number(e.target.value)));
  $('#quality').value = store.quality;
  $('#quality').addEventListener('change', (e) => {
    store.quality = e.target.value;
    for (const x of player.hls) if (x) { x.autoLevelCapping = store.quality === 'low' ? 0 : -1; if (store.quality === 'low') x.nextLevel = 0; }
  });
  $('#shuffle').addEventListener('click', () => {
    player.queue.toggleShuffle();
    player.showShuffle();
    player.dropPrepared();
    player.renderQueue();
  });
  $('#repeat').addEventListener('click', () => {
    const mode = player.queue.cycleRepeat();
    const b = $('#repeat');
    b.setAttribute('aria-pressed', String(mode !== 'off'));
    b.setAttribute('aria-label', `Repeat: ${mode}`);
    b.textContent = mode === 'one' ? '🔂' : '⟳';
    player.dropPrepared();
  });
  $('#queue-toggle').addEventListener('click', () => setQueueOpen($('#queue').hidden));
  $('#queue-close').addEventListener('click', () => setQueueOpen(false));
  $('#queue-clear').addEventListener('click', () => {
    player.queue.keepOnlyCurrent();
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
}
