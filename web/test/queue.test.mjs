// The play queue (web/queue.js): order, shuffle, repeat, next and previous, and editing
// the queue while a track plays. Shuffle draws from a seeded generator, so every run sees
// the same orders.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Queue } from '../queue.js';

// mulberry32: a small seeded generator of numbers in [0, 1).
function seeded(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const tracks = (n) => Array.from({ length: n }, (_, i) => ({ id: 100 + i, title: `T${i}` }));
const ids = (q) => q.list().map((t) => t.id);
const sorted = (a) => [...a].sort((x, y) => x - y);
// A queue of n tracks in order, at position `at`.
function playing(n, at = 0, opts) {
  const q = new Queue(opts);
  q.load(tracks(n), 0);
  assert.equal(q.goTo(at), true);
  return q;
}

test('an empty queue has nothing current and nowhere to go', () => {
  const q = new Queue();
  assert.equal(q.current, null);
  assert.equal(q.pos, -1);
  assert.equal(q.length, 0);
  assert.equal(q.nextPos(), null);
  assert.equal(q.autoNextPos(), null);
  assert.equal(q.prevPos(), null);
  assert.equal(q.goTo(0), false);
  q.repeat = 'all';
  assert.equal(q.nextPos(), null, 'repeat all has nothing to wrap to');
});

test('load keeps the list order, copies the list, and nothing is current until goTo', () => {
  const list = tracks(4);
  const q = new Queue();
  q.load(list, 2);
  assert.deepEqual(ids(q), [100, 101, 102, 103]);
  assert.equal(q.current, null);
  list.pop();
  assert.equal(q.length, 4, 'the queue holds a copy');
  assert.equal(q.goTo(0), true);
  assert.equal(q.current.id, 100);
  assert.equal(q.at(3).id, 103);
});

test('load replaces the previous queue', () => {
  const q = playing(5, 3);
  q.load(tracks(2), 0);
  assert.equal(q.pos, -1);
  assert.deepEqual(ids(q), [100, 101]);
});

test('shuffled load plays every track exactly once, the chosen one first', () => {
  let differs = 0;
  for (let seed = 1; seed <= 200; seed++) {
    const n = 1 + (seed % 9), start = seed % n;
    const q = new Queue({ random: seeded(seed) });
    q.load(tracks(n), start, true);
    assert.equal(q.shuffle, true);
    assert.deepEqual(sorted(ids(q)), tracks(n).map((t) => t.id), `seed ${seed}: a permutation`);
    assert.equal(q.at(0).id, 100 + start, `seed ${seed}: the chosen track first`);
    if (ids(q).some((id, i) => id !== 100 + i)) differs++;
  }
  assert.ok(differs > 100, `shuffle changes the order (${differs} of 200)`);
});

test('shuffle is deterministic given the random source, and uses it', () => {
  const a = new Queue({ random: seeded(7) }), b = new Queue({ random: seeded(7) });
  a.load(tracks(10), 0, true);
  b.load(tracks(10), 0, true);
  assert.deepEqual(ids(a), ids(b));
  // A source that always draws the top of the range swaps nothing.
  const c = new Queue({ random: () => 0.999999 });
  c.load(tracks(5), 3, true);
  assert.deepEqual(ids(c), [103, 101, 102, 100, 104], 'identity, then the chosen track swapped to the front');
});

test('turning shuffle on keeps every track once and the current track current', () => {
  for (let seed = 1; seed <= 50; seed++) {
    const q = playing(8, seed % 8, { random: seeded(seed) });
    const cur = q.current;
    q.toggleShuffle();
    assert.equal(q.shuffle, true);
    assert.equal(q.current, cur, `seed ${seed}: still current`);
    assert.equal(q.pos, 0, 'and first');
    assert.deepEqual(sorted(ids(q)), tracks(8).map((t) => t.id));
  }
});

test('turning shuffle off returns to list order, the current track where it is in it', () => {
  const q = new Queue({ random: seeded(3) });
  q.load(tracks(6), 4, true);
  q.goTo(2);
  const cur = q.current;
  q.toggleShuffle();
  assert.equal(q.shuffle, false);
  assert.equal(q.current, cur);
  assert.deepEqual(ids(q), [100, 101, 102, 103, 104, 105]);
  assert.equal(q.pos, cur.id - 100, 'what follows is what followed it in the list');
});

test('shuffle on and off keeps removed tracks removed and a hand-made order', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const q = playing(6, 1, { random: seeded(seed) });
    q.remove(3); // T3 goes
    q.move(4, 0); // T5 first: [105, 100, 101, 102, 104]
    assert.deepEqual(ids(q), [105, 100, 101, 102, 104]);
    q.toggleShuffle();
    assert.deepEqual(sorted(ids(q)), [100, 101, 102, 104, 105], `seed ${seed}: T3 stays out while shuffled`);
    q.remove(q.length - 1);
    const left = sorted(ids(q));
    q.toggleShuffle();
    assert.deepEqual(sorted(ids(q)), left, 'and after');
    assert.deepEqual(ids(q), [105, 100, 101, 102, 104].filter((id) => left.includes(id)), 'the order made by hand is back');
    assert.equal(q.current.id, 101);
  }
});

test('tracks queued next while shuffled come next in list order too', () => {
  const q = new Queue({ random: seeded(9) });
  q.load(tracks(4), 2, true);
  q.goTo(0);
  q.append([{ id: 200 }], true);
  assert.equal(q.at(1).id, 200);
  q.toggleShuffle();
  assert.deepEqual(ids(q), [100, 101, 102, 200, 103]);
  assert.equal(q.at(q.pos + 1).id, 200);
});

test('shuffle with nothing current only flips the mode', () => {
  const q = new Queue({ random: seeded(5) });
  q.load(tracks(4), 0);
  q.toggleShuffle();
  assert.equal(q.shuffle, true);
  assert.equal(q.pos, -1);
  assert.equal(q.current, null);
  assert.deepEqual(sorted(ids(q)), [100, 101, 102, 103]);
});

test('repeat cycles off, all, one, off', () => {
  const q = new Queue();
  assert.equal(q.repeat, 'off');
  assert.equal(q.cycleRepeat(), 'all');
  assert.equal(q.cycleRepeat(), 'one');
  assert.equal(q.cycleRepeat(), 'off');
  assert.equal(q.repeat, 'off');
});

test('in the middle: next and the end of a track go on, repeat one repeats the track', () => {
  const q = playing(3, 1);
  for (const mode of ['off', 'all']) {
    q.repeat = mode;
    assert.equal(q.nextPos(), 2, mode);
    assert.equal(q.autoNextPos(), 2, mode);
  }
  q.repeat = 'one';
  assert.equal(q.autoNextPos(), 1, 'the same track again');
  assert.equal(q.nextPos(), 2, 'Next still moves on');
});

test('at the end: repeat off stops, repeat all wraps, repeat one repeats', () => {
  const q = playing(3, 2);
  q.repeat = 'off';
  assert.equal(q.nextPos(), null);
  assert.equal(q.autoNextPos(), null);
  q.repeat = 'all';
  assert.equal(q.nextPos(), 0);
  assert.equal(q.autoNextPos(), 0);
  q.repeat = 'one';
  assert.equal(q.autoNextPos(), 2);
  assert.equal(q.nextPos(), null, 'Next at the end with repeat one goes nowhere');
});

test('one track with repeat all wraps to itself', () => {
  const q = playing(1, 0);
  q.repeat = 'all';
  assert.equal(q.nextPos(), 0);
  assert.equal(q.autoNextPos(), 0);
});

test('previous steps back, and at the start goes nowhere (no wrap, even with repeat all)', () => {
  const q = playing(3, 2);
  assert.equal(q.prevPos(), 1);
  q.goTo(0);
  for (const mode of ['off', 'all', 'one']) {
    q.repeat = mode;
    assert.equal(q.prevPos(), null, mode);
  }
});

test('goTo refuses positions outside the queue', () => {
  const q = playing(3, 1);
  assert.equal(q.goTo(3), false);
  assert.equal(q.goTo(-1), false);
  assert.equal(q.pos, 1);
  assert.equal(q.goTo(2), true);
  assert.equal(q.current.id, 102);
});

test('append adds at the end, or right after the current track', () => {
  const q = playing(3, 1);
  const [a, b, c] = [{ id: 1 }, { id: 2 }, { id: 3 }];
  q.append([a]);
  assert.deepEqual(ids(q), [100, 101, 102, 1]);
  q.append([b, c], true);
  assert.deepEqual(ids(q), [100, 101, 2, 3, 102, 1]);
  assert.equal(q.current.id, 101);
  assert.equal(q.nextPos(), 2);
  assert.equal(q.at(q.nextPos()), b);
});

test('append next with nothing current adds at the end', () => {
  const q = new Queue();
  q.append(tracks(2), true);
  q.append([{ id: 9 }], true);
  assert.deepEqual(ids(q), [100, 101, 9]);
  assert.equal(q.pos, -1);
});

test('move keeps the current track current', () => {
  const q = playing(5, 2);
  const cur = q.current;
  assert.equal(q.move(0, 4), true);
  assert.deepEqual(ids(q), [101, 102, 103, 104, 100]);
  assert.equal(q.current, cur);
  assert.equal(q.pos, 1);
  assert.equal(q.move(4, 0), true);
  assert.equal(q.current, cur);
  assert.equal(q.pos, 2);
  assert.equal(q.move(2, 3), true, 'the current track itself');
  assert.equal(q.current, cur);
  assert.equal(q.pos, 3);
});

test('move refuses targets outside the queue', () => {
  const q = playing(3, 0);
  assert.equal(q.move(0, -1), false);
  assert.equal(q.move(2, 3), false);
  assert.deepEqual(ids(q), [100, 101, 102]);
  assert.equal(q.pos, 0);
});

test('permute (a drag in the queue panel) keeps the current track current', () => {
  const q = playing(4, 1);
  const cur = q.current;
  q.permute([3, 1, 0, 2]);
  assert.deepEqual(ids(q), [103, 101, 100, 102]);
  assert.equal(q.current, cur);
  q.permute([2, 0, 1, 3]);
  assert.deepEqual(ids(q), [100, 103, 101, 102]);
  assert.equal(q.pos, 2);
  assert.equal(q.current, cur);
});

test('removing the current track makes the next one current, or the one before at the end', () => {
  const q = playing(3, 1);
  assert.equal(q.remove(1), true);
  assert.equal(q.removedCurrent, true, 'the player plays the new current track');
  assert.deepEqual(ids(q), [100, 102]);
  assert.equal(q.current.id, 102);
  assert.equal(q.remove(1), true);
  assert.equal(q.current.id, 100, 'the last one gone: the one before');
  assert.equal(q.remove(0), true);
  assert.equal(q.pos, -1, 'nothing left');
  assert.equal(q.current, null);
  const r = playing(3, 0);
  r.remove(2);
  assert.equal(r.removedCurrent, false);
});

test('removing other tracks keeps the current track current', () => {
  const q = playing(5, 2);
  assert.equal(q.remove(0), true);
  assert.equal(q.pos, 1);
  assert.equal(q.current.id, 102);
  assert.equal(q.remove(3), true);
  assert.deepEqual(ids(q), [101, 102, 103]);
  assert.equal(q.current.id, 102);
  assert.equal(q.remove(5), false);
  assert.equal(q.remove(-1), false);
  assert.deepEqual(ids(q), [101, 102, 103]);
});

test('removing the tracks after the current one makes it the last', () => {
  const q = playing(3, 1);
  q.remove(2);
  assert.equal(q.nextPos(), null);
  q.repeat = 'all';
  assert.equal(q.nextPos(), 0);
});

test('clearing the queue keeps only the current track', () => {
  const q = playing(4, 2);
  q.keepOnlyCurrent();
  assert.deepEqual(ids(q), [102]);
  assert.equal(q.pos, 0);
  assert.equal(q.current.id, 102);
  assert.equal(q.nextPos(), null);
  const idle = new Queue();
  idle.load(tracks(3), 0);
  idle.keepOnlyCurrent();
  assert.equal(idle.length, 0);
  assert.equal(idle.pos, -1);
  assert.equal(idle.current, null);
});

test('clear empties the queue and keeps the shuffle and repeat modes', () => {
  const q = new Queue({ random: seeded(1) });
  q.load(tracks(3), 0, true);
  q.goTo(1);
  q.repeat = 'one';
  q.clear();
  assert.equal(q.length, 0);
  assert.equal(q.current, null);
  assert.equal(q.pos, -1);
  assert.equal(q.shuffle, true);
  assert.equal(q.repeat, 'one');
  q.append(tracks(1));
  assert.deepEqual(ids(q), [100]);
});

test('load answers where to start: the chosen track, shuffled or not', () => {
  const q = new Queue({ random: seeded(7) });
  const first = q.load(tracks(5), 3);
  assert.equal(first, 3);
  assert.equal(q.goTo(first), true);
  assert.equal(q.current.id, 103, 'clicking the fourth track plays the fourth track');
  const s = new Queue({ random: seeded(7) });
  assert.equal(s.load(tracks(5), 3, true), 0, 'shuffling moves the chosen track to the front');
  s.goTo(0);
  assert.equal(s.current.id, 103);
});
