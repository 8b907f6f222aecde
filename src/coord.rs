//! The coordination seam: the state that requests must agree on and that is not the
//! catalog's — named locks (one writer per resumable upload), counted slots (uploads in
//! flight per user), the ingest gate (deletes against commits), single-use records with an
//! expiry (instant-upload challenges), notes with an expiry (what each player is playing
//! now), failure windows (sign-in throttling), and the
//! invalidation of short-lived caches (sessions, grant keys, playback tracks).
//!
//! Owned by the services: they are its only callers, through one [`Coordination`] handle.
//! [`Local`] keeps it all in this process (one node); [`postgres::Postgres`] shares it
//! between every node of a PostgreSQL catalog: locks and slots as advisory locks, records
//! and windows as rows with an expiry, invalidation by LISTEN/NOTIFY. Callers cannot tell
//! them apart. Depends on `domain` only. Methods may block (the shared implementation
//! talks to a database): call them from blocking contexts.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};

use dashmap::DashMap;

use crate::domain::{TrackId, UserId, now_unix};

pub mod postgres;

/// Something held until dropped: a lock, a slot, a side of a gate.
#[must_use = "dropping it releases what it holds"]
pub struct Held(Option<Box<dyn FnOnce() + Send>>);

impl Held {
    fn new(release: impl FnOnce() + Send + 'static) -> Held {
        Held(Some(Box::new(release)))
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

/// What a cache must forget, everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalidation {
    /// A user's access changed (password, disabled, deleted): sessions, grant key, tracks.
    User(UserId),
    /// One session ended (logout), by its token's key.
    Session([u8; 32]),
    /// One of a user's tracks changed or went (tag edit, delete).
    Track(UserId, TrackId),
    /// Everything cached (invalidations may have been missed: a shared implementation
    /// lost its connection to the others for a while).
    Everything,
}

/// A cache's forgetting, called for every invalidation.
pub type Subscriber = Box<dyn Fn(&Invalidation) + Send + Sync>;
type Shared = Arc<dyn Fn(&Invalidation) + Send + Sync>;

/// A single-use record as taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Taken {
    Live(Vec<u8>),
    /// It existed, but its time ran out.
    Expired,
}

/// The owner already holds the most live records allowed.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

pub trait Coordination: Send + Sync {
    /// The exclusive lock `name`, if nobody holds it. Never waits.
    fn try_lock(&self, name: &str) -> Option<Held>;
    /// One of `limit` slots counted under `name`, if one is free. Never waits.
    fn try_slot(&self, name: &str, limit: usize) -> Option<Held>;
    /// Waits for one side of the gate `name`: many shared holders, or one exclusive holder
    /// (a waiting exclusive holder goes before new shared ones).
    fn gate(&self, name: &str, exclusive: bool) -> Held;
    /// Keeps `value` under (`ns`, `key`) for `owner` for `ttl_secs`, unless `owner` already
    /// has `max_per_owner` live records in `ns`.
    fn put_once(&self, ns: &str, owner: UserId, key: &str, value: Vec<u8>, ttl_secs: i64, max_per_owner: usize) -> Result<(), Full>;
    /// Removes and returns the record if `owner` owns it; someone else's is `None`, like
    /// a missing one.
    fn take_once(&self, ns: &str, owner: UserId, key: &str) -> Option<Taken>;
    /// Sets `owner`'s note `key` in `ns` to `value` for `ttl_secs`, replacing the one
    /// there; past `max_per_owner` notes in `ns`, the oldest goes. Notes are read, never taken.
    fn note(&self, ns: &str, owner: UserId, key: &str, value: Vec<u8>, ttl_secs: i64, max_per_owner: usize);
    /// `owner`'s live notes in `ns`, newest first: (key, value).
    fn notes(&self, ns: &str, owner: UserId) -> Vec<(String, Vec<u8>)>;
    /// Events counted under `key` in the current window: (count, window start). A window
    /// older than `window_secs` counts as empty.
    fn window(&self, key: &str, window_secs: i64) -> (u32, i64);
    /// Counts one event under `key` (starting a new window when the last one is over).
    fn bump(&self, key: &str, window_secs: i64);
    fn clear(&self, key: &str);
    /// Tells every subscriber (in every process sharing this coordination) to forget `what`.
    fn invalidate(&self, what: Invalidation);
    /// Registers a cache's forgetting; called for every [`Coordination::invalidate`].
    fn subscribe(&self, f: Subscriber);
}

/// Most records and windows kept before expired ones are dropped.
const MAX_ENTRIES: usize = 100_000;

/// [`Coordination`] within one process.
#[derive(Clone, Default)]
pub struct Local(Arc<Inner>);

#[derive(Default)]
struct Inner {
    locks: DashMap<String, ()>,
    slots: DashMap<String, usize>,
    gates: Mutex<HashMap<String, Arc<Gate>>>,
    /// One lock, so the per-owner cap holds.
    records: Mutex<HashMap<(String, String), Record>>,
    /// Newest first, under the namespace.
    notes: Mutex<HashMap<String, Vec<Note>>>,
    windows: DashMap<String, (u32, i64)>,
    subscribers: Mutex<Vec<Shared>>,
}

/// (owner, value, expires at), under (namespace, key).
type Record = (UserId, Vec<u8>, i64);

/// (owner, key, value, expires at).
type Note = (UserId, String, Vec<u8>, i64);

#[derive(Default)]
struct Gate {
    /// (shared holders, exclusive held, exclusive waiting)
    state: Mutex<(usize, bool, usize)>,
    turn: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Gate {
    fn enter(self: Arc<Self>, exclusive: bool) -> Held {
        let mut s = lock(&self.state);
        if exclusive {
            s.2 += 1;
            while s.0 > 0 || s.1 {
                s = self.turn.wait(s).unwrap_or_else(|p| p.into_inner());
            }
            s.2 -= 1;
            s.1 = true;
        } else {
            while s.1 || s.2 > 0 {
                s = self.turn.wait(s).unwrap_or_else(|p| p.into_inner());
            }
            s.0 += 1;
        }
        drop(s);
        Held::new(move || {
            let mut s = lock(&self.state);
            if exclusive {
                s.1 = false;
            } else {
                s.0 -= 1;
            }
            drop(s);
            self.turn.notify_all();
        })
    }
}

impl Coordination for Local {
    fn try_lock(&self, name: &str) -> Option<Held> {
        if self.0.locks.insert(name.to_string(), ()).is_some() {
            return None;
        }
        let (inner, name) = (self.0.clone(), name.to_string());
        Some(Held::new(move || {
            inner.locks.remove(&name);
        }))
    }

    fn try_slot(&self, name: &str, limit: usize) -> Option<Held> {
        {
            let mut n = self.0.slots.entry(name.to_string()).or_insert(0);
            if *n >= limit {
                return None;
            }
            *n += 1;
        }
        let (inner, name) = (self.0.clone(), name.to_string());
        Some(Held::new(move || {
            inner.slots.remove_if_mut(&name, |_, n| {
                *n = n.saturating_sub(1);
                *n == 0
            });
        }))
    }

    fn gate(&self, name: &str, exclusive: bool) -> Held {
        let gate = lock(&self.0.gates).entry(name.to_string()).or_default().clone();
        gate.enter(exclusive)
    }

    fn put_once(&self, ns: &str, owner: UserId, key: &str, value: Vec<u8>, ttl_secs: i64, max_per_owner: usize) -> Result<(), Full> {
        let now = now_unix();
        let mut records = lock(&self.0.records);
        records.retain(|_, r| r.2 > now);
        let open = records.iter().filter(|(k, r)| k.0 == ns && r.0 == owner).count();
        if open >= max_per_owner || records.len() >= MAX_ENTRIES {
            return Err(Full);
        }
        records.insert((ns.to_string(), key.to_string()), (owner, value, now + ttl_secs));
        Ok(())
    }

    fn take_once(&self, ns: &str, owner: UserId, key: &str) -> Option<Taken> {
        let mut records = lock(&self.0.records);
        let k = (ns.to_string(), key.to_string());
        if records.get(&k)?.0 != owner {
            return None;
        }
        let (_, value, expires) = records.remove(&k)?;
        Some(if expires > now_unix() { Taken::Live(value) } else { Taken::Expired })
    }

    fn note(&self, ns: &str, owner: UserId, key: &str, value: Vec<u8>, ttl_secs: i64, max_per_owner: usize) {
        let now = now_unix();
        let mut all = lock(&self.0.notes);
        let notes = all.entry(ns.to_string()).or_default();
        notes.retain(|(o, k, _, expires)| *expires > now && !(*o == owner && k == key));
        let mut mine = 0;
        notes.retain(|(o, ..)| {
            mine += usize::from(*o == owner);
            *o != owner || mine < max_per_owner
        });
        if notes.len() < MAX_ENTRIES {
            notes.insert(0, (owner, key.to_string(), value, now + ttl_secs));
        }
    }

    fn notes(&self, ns: &str, owner: UserId) -> Vec<(String, Vec<u8>)> {
        let now = now_unix();
        let all = lock(&self.0.notes);
        let Some(notes) = all.get(ns) else { return Vec::new() };
        notes.iter().filter(|(o, _, _, expires)| *o == owner && *expires > now).map(|(_, k, v, _)| (k.clone(), v.clone())).collect()
    }

    fn window(&self, key: &str, window_secs: i64) -> (u32, i64) {
        let now = now_unix();
        match self.0.windows.get(key) {
            Some(e) if now - e.1 < window_secs => *e,
            _ => (0, now),
        }
    }

    fn bump(&self, key: &str, window_secs: i64) {
        let now = now_unix();
        if self.0.windows.len() > MAX_ENTRIES {
            self.0.windows.retain(|_, e| now - e.1 < window_secs);
        }
        let mut e = self.0.windows.entry(key.to_string()).or_insert((0, now));
        if now - e.1 >= window_secs {
            *e = (0, now);
        }
        e.0 += 1;
    }

    fn clear(&self, key: &str) {
        self.0.windows.remove(key);
    }

    fn invalidate(&self, what: Invalidation) {
        // Called outside the lock: a subscriber may subscribe or invalidate in turn.
        let subscribers = lock(&self.0.subscribers).clone();
        for f in subscribers {
            f(&what);
        }
    }

    fn subscribe(&self, f: Subscriber) {
        lock(&self.0.subscribers).push(Arc::from(f));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` on this process's coordination and on a shared one (PostgreSQL).
    fn each(f: impl Fn(Arc<dyn Coordination>)) {
        f(Arc::new(Local::default()));
        f(Arc::new(postgres::Postgres::open(&crate::catalog::testing::scratch_database()).unwrap()));
    }

    #[test]
    fn locks_and_slots_are_released_when_dropped() {
        each(|c| {
            let a = c.try_lock("upload:1");
            assert!(a.is_some());
            assert!(c.try_lock("upload:1").is_none());
            assert!(c.try_lock("upload:2").is_some());
            drop(a);
            assert!(c.try_lock("upload:1").is_some());
            let (s1, s2) = (c.try_slot("u:1", 2), c.try_slot("u:1", 2));
            assert!(s1.is_some() && s2.is_some());
            assert!(c.try_slot("u:1", 2).is_none());
            drop(s1);
            assert!(c.try_slot("u:1", 2).is_some());
        });
    }

    #[test]
    fn records_are_single_use_and_per_owner() {
        each(|c| {
            assert_eq!(c.put_once("ch", UserId(1), "a", b"x".to_vec(), 60, 2), Ok(()));
            assert_eq!(c.put_once("ch", UserId(1), "b", b"y".to_vec(), 60, 2), Ok(()));
            assert_eq!(c.put_once("ch", UserId(1), "c", b"z".to_vec(), 60, 2), Err(Full));
            assert_eq!(c.put_once("ch", UserId(2), "c", b"z".to_vec(), 60, 2), Ok(()));
            assert_eq!(c.take_once("ch", UserId(2), "a"), None, "someone else's record is as good as missing");
            assert_eq!(c.take_once("ch", UserId(1), "a"), Some(Taken::Live(b"x".to_vec())));
            assert_eq!(c.take_once("ch", UserId(1), "a"), None, "taken once");
            assert_eq!(c.put_once("ch", UserId(3), "old", vec![], -1, 2), Ok(()));
            assert_eq!(c.take_once("ch", UserId(3), "old"), Some(Taken::Expired));
        });
    }

    #[test]
    fn notes_replace_per_key_keep_the_newest_and_stay_the_owners() {
        each(|c| {
            c.note("np", UserId(1), "phone", b"1".to_vec(), 60, 2);
            std::thread::sleep(std::time::Duration::from_millis(5));
            c.note("np", UserId(1), "car", b"2".to_vec(), 60, 2);
            std::thread::sleep(std::time::Duration::from_millis(5));
            c.note("np", UserId(1), "phone", b"3".to_vec(), 60, 2);
            c.note("np", UserId(2), "phone", b"9".to_vec(), 60, 2);
            assert_eq!(c.notes("np", UserId(1)), vec![("phone".to_string(), b"3".to_vec()), ("car".to_string(), b"2".to_vec())]);
            std::thread::sleep(std::time::Duration::from_millis(5));
            c.note("np", UserId(1), "web", b"4".to_vec(), 60, 2);
            assert_eq!(c.notes("np", UserId(1)), vec![("web".to_string(), b"4".to_vec()), ("phone".to_string(), b"3".to_vec())], "the oldest went");
            assert_eq!(c.notes("np", UserId(2)), vec![("phone".to_string(), b"9".to_vec())]);
            c.note("np", UserId(3), "old", b"x".to_vec(), -1, 2);
            assert!(c.notes("np", UserId(3)).is_empty(), "expired");
            assert!(c.notes("other", UserId(1)).is_empty());
        });
    }

    #[test]
    fn windows_count_and_clear() {
        each(|c| {
            assert_eq!(c.window("k", 60).0, 0);
            c.bump("k", 60);
            c.bump("k", 60);
            assert_eq!(c.window("k", 60).0, 2);
            assert_eq!(c.window("k", 0).0, 0, "a window that is over counts as empty");
            c.clear("k");
            assert_eq!(c.window("k", 60).0, 0);
        });
    }

    #[test]
    fn the_gate_lets_an_exclusive_holder_in_alone() {
        each(|c| {
            let shared = c.gate("ingest", false);
            let c2 = c.clone();
            let (tx, rx) = std::sync::mpsc::channel();
            let t = std::thread::spawn(move || {
                let _alone = c2.gate("ingest", true);
                tx.send(()).ok();
            });
            assert!(rx.recv_timeout(std::time::Duration::from_millis(100)).is_err(), "waits for the shared holder");
            drop(shared);
            assert!(rx.recv_timeout(std::time::Duration::from_secs(5)).is_ok());
            t.join().ok();
            let _again = c.gate("ingest", false);
        });
    }

    #[test]
    fn invalidations_reach_every_subscriber() {
        each(|c| {
            let seen = Arc::new(Mutex::new(Vec::new()));
            for _ in 0..2 {
                let s = seen.clone();
                c.subscribe(Box::new(move |w| lock(&s).push(*w)));
            }
            c.invalidate(Invalidation::Track(UserId(1), TrackId(2)));
            assert_eq!(*lock(&seen), vec![Invalidation::Track(UserId(1), TrackId(2)); 2]);
        });
    }

    #[test]
    fn nodes_sharing_a_database_share_locks_windows_and_invalidations() {
        let url = crate::catalog::testing::scratch_database();
        let (a, b) = (postgres::Postgres::open(&url).unwrap(), postgres::Postgres::open(&url).unwrap());
        let held = a.try_lock("upload:1");
        assert!(held.is_some() && b.try_lock("upload:1").is_none(), "one writer cluster-wide");
        drop(held);
        // A's release runs on its own thread; A itself waits for it, another node may not.
        assert!(a.try_lock("upload:1").is_some(), "the releasing node waits for its release");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let again = loop {
            if let Some(h) = b.try_lock("upload:1") {
                break h;
            }
            assert!(std::time::Instant::now() < deadline, "released for the other node too");
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        drop(again);
        let slot = a.try_slot("u:1", 1);
        assert!(slot.is_some() && b.try_slot("u:1", 1).is_none());
        a.bump("login:x", 60);
        b.bump("login:x", 60);
        assert_eq!(a.window("login:x", 60).0, 2, "failures on either node count once");
        assert_eq!(a.put_once("ch", UserId(1), "k", b"v".to_vec(), 60, 5), Ok(()));
        assert_eq!(b.take_once("ch", UserId(1), "k"), Some(Taken::Live(b"v".to_vec())), "a record made on one node is taken on another");
        assert_eq!(a.take_once("ch", UserId(1), "k"), None);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        b.subscribe(Box::new(move |w| lock(&s).push(*w)));
        // Sent until heard: b's listener may still be connecting.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !lock(&seen).contains(&Invalidation::Track(UserId(1), TrackId(2))) {
            assert!(std::time::Instant::now() < deadline, "the other node heard {:?}", lock(&seen));
            a.invalidate(Invalidation::Track(UserId(1), TrackId(2)));
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}
