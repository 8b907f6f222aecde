// The play queue, as pure data: the tracks queued, the order they play in, the current
// position, shuffle and repeat. No DOM, no network, no globals (the random source is
// passed in), so `node --test web/test/` checks it. The player (player.js) asks it where
// to go and does the loading and playing.
//
// Tracks are never removed from `tracks` (until `load` or `clear`): `order` holds indices
// into it, and a position (`pos`, the `p` arguments) is an index into `order`. `base` is
// the same entries in list order (as loaded, appended and arranged by hand without
// shuffle), which turning shuffle off returns to.

export const REPEAT_MODES = ['off', 'all', 'one'];

export class Queue {
  constructor({ random = Math.random } = {}) {
    this.random = random; // () => a number in [0, 1)
    this.tracks = [];
    this.order = [];
    this.base = [];
    this.pos = -1; // -1: nothing current
    this.shuffle = false;
    this.repeat = 'off'; // 'off' | 'all' | 'one'
  }

  get length() { return this.order.length; }
  get current() { return this.pos >= 0 ? this.tracks[this.order[this.pos]] : null; }
  // The track at position p.
  at(p) { return this.tracks[this.order[p]]; }
  // The tracks in play order.
  list() { return this.order.map((qi) => this.tracks[qi]); }

  // A new queue of `tracks` (copied). In shuffle, track index `start` comes first. Nothing
  // is current until `goTo`.
  // Replaces the queue with `tracks`; returns the position to play first: track `start`
  // (which shuffling moves to the front).
  load(tracks, start = 0, shuffle = false) {
    this.tracks = tracks.slice();
    this.base = this.tracks.map((_, i) => i);
    this.shuffle = shuffle;
    this.pos = -1;
    this.arrange(start);
    return Math.max(0, this.order.indexOf(start));
  }

  // Rebuilds `order` from the queued entries (`base`): in list order, or shuffled
  // (Fisher–Yates) with track index `first` moved to the front. Leaves `pos` alone.
  arrange(first) {
    const idx = this.base.slice();
    if (this.shuffle) {
      for (let i = idx.length - 1; i > 0; i--) { const j = Math.floor(this.random() * (i + 1)); [idx[i], idx[j]] = [idx[j], idx[i]]; }
      const k = idx.indexOf(first);
      if (k > 0) [idx[0], idx[k]] = [idx[k], idx[0]];
    }
    this.order = idx;
  }

  // The shuffle button. On: the queued entries shuffled, the current track (if any) first
  // and current. Off: back to list order, the current track current where it is in it, so
  // what follows is what followed it in the list. Removed entries stay removed.
  toggleShuffle() {
    const cur = this.order[this.pos];
    this.shuffle = !this.shuffle;
    this.arrange(cur ?? this.base[0]);
    if (cur === undefined) return;
    if (this.shuffle) { this.order.splice(this.order.indexOf(cur), 1); this.order.unshift(cur); }
    this.pos = this.order.indexOf(cur);
  }

  // off → all → one → off; returns the new mode.
  cycleRepeat() {
    this.repeat = { off: 'all', all: 'one', one: 'off' }[this.repeat];
    return this.repeat;
  }

  // Adds tracks at the end, or right after the current one (`next`, when one is current).
  append(tracks, next = false) {
    const base = this.tracks.length;
    this.tracks.push(...tracks);
    const added = tracks.map((_, i) => base + i);
    const cur = this.order[this.pos];
    if (next && this.pos >= 0) {
      this.order.splice(this.pos + 1, 0, ...added);
      this.base.splice(this.base.indexOf(cur) + 1, 0, ...added);
    } else {
      this.order.push(...added);
      this.base.push(...added);
    }
  }

  // Makes position p current; false (and no change) if there is no such position.
  goTo(p) {
    if (p < 0 || p >= this.order.length) return false;
    this.pos = p;
    return true;
  }

  // Where to go when the current track ends: itself with repeat one, else the next one,
  // wrapping to the first with repeat all; null at the end.
  autoNextPos() {
    if (this.repeat === 'one') return this.pos;
    return this.nextPos();
  }
  // Where the Next button goes: the next position (repeat one does not hold it), wrapping
  // with repeat all; null at the end.
  nextPos() {
    if (this.pos + 1 < this.order.length) return this.pos + 1;
    return this.repeat === 'all' && this.order.length ? 0 : null;
  }
  // Where Previous goes: the position before; null at the start (no wrapping, the player
  // restarts the track instead).
  prevPos() { return this.pos > 0 ? this.pos - 1 : null; }

  // Moves the entry at `from` to `to`; the current track stays current. False if `to` is
  // out of range.
  move(from, to) {
    if (to < 0 || to >= this.order.length || from < 0 || from >= this.order.length) return false;
    const cur = this.order[this.pos];
    const [x] = this.order.splice(from, 1);
    this.order.splice(to, 0, x);
    this.pos = this.order.indexOf(cur);
    if (!this.shuffle) this.base = this.order.slice();
    return true;
  }

  // Reorders to `positions`, the old positions in their new order (a drag and drop in the
  // queue panel); the current track stays current.
  permute(positions) {
    const cur = this.order[this.pos];
    this.order = positions.map((p) => this.order[p]);
    this.pos = this.order.indexOf(cur);
    if (!this.shuffle) this.base = this.order.slice();
  }

  // Takes the entry at p out of the queue: false if there is none, true otherwise. The
  // current one may go too: then the entry after it (or, at the end, the one before) is
  // current, and `removedCurrent` tells the player to play it; an emptied queue has none.
  remove(p) {
    if (p < 0 || p >= this.order.length) return false;
    const [qi] = this.order.splice(p, 1);
    this.base.splice(this.base.indexOf(qi), 1);
    this.removedCurrent = p === this.pos;
    if (p < this.pos) this.pos--;
    else if (this.removedCurrent) this.pos = Math.min(this.pos, this.order.length - 1);
    return true;
  }

  // The queue panel's Clear: everything but the current track.
  keepOnlyCurrent() {
    const cur = this.order[this.pos];
    this.order = cur === undefined ? [] : [cur];
    this.base = this.order.slice();
    this.pos = cur === undefined ? -1 : 0;
  }

  // Empty (shuffle and repeat stay as they are).
  clear() {
    this.tracks = []; this.order = []; this.base = []; this.pos = -1;
  }
}
