//! [`Coordination`] shared by every node of one PostgreSQL database (the catalog's):
//! - locks, slots and gates are session advisory locks, each held on a connection of its
//!   own until the [`Held`] is dropped (a node that dies releases them with its sockets);
//! - single-use records (`coord_records`), notes (`coord_notes`) and failure windows
//!   (`coord_windows`) are rows;
//! - invalidations are sent with `pg_notify` and heard by one listening connection per
//!   node, which hands them to this node's subscribers. While that connection is down
//!   invalidations can be missed, so every reconnect tells subscribers to drop everything.
//!
//! When the database cannot be reached, nothing waits on it: a lock or slot is refused
//! (the caller answers "busy"), a record cannot be kept or taken, a window counts nothing
//! (the catalog is down too, so nobody signs in), a gate falls back to this node's own.
//!
//! Owns: its three tables and the channel name. Depends on `domain` and the `postgres`
//! crate only (the catalog's engine is `catalog::postgres`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls};

use super::{Coordination, Full, Held, Invalidation, Local, Subscriber, Taken};
use crate::domain::{TrackId, UserId, now_unix};

const CHANNEL: &str = "tonearm_invalidate";
/// Idle connections kept for short statements and for locks.
const MAX_IDLE: usize = 8;
/// The advisory lock under which the tables are created.
const SETUP_LOCK: i64 = 0x746f_6e65_6172_6d03;
/// Expired records are kept this long (so that taking one says "expired", not "missing").
const RECORD_GRACE_SECS: i64 = 3600;

#[derive(Debug, thiserror::Error)]
pub enum CoordError {
    #[error("coordination database {target}: {source}")]
    Unavailable { target: String, source: postgres::Error },
    #[error("coordination database url: {0}")]
    Url(postgres::Error),
    #[error("starting a coordination thread: {0}")]
    Thread(String),
}

/// A handle; clones share the connections and the listener.
#[derive(Clone)]
pub struct Postgres(Arc<Inner>);

struct Inner {
    config: postgres::Config,
    /// Idle connections and when each was given back.
    idle: Mutex<Vec<(Client, std::time::Instant)>>,
    /// Held locks are released by a thread of their own: a [`Held`] may be dropped on an
    /// async executor, where talking to the database (or closing a connection) must not.
    releases: Mutex<std::sync::mpsc::Sender<(Client, String)>>,
    /// Unlock statements sent but not yet run, so that this node asking for the same lock
    /// again waits for its own release instead of finding the lock still held.
    pending: Mutex<std::collections::HashSet<String>>,
    released: std::sync::Condvar,
    /// This node's subscribers, and the gates used while the database is unreachable.
    local: Local,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A name as an advisory lock key.
fn key(name: &str) -> i64 {
    let h = blake3::hash(name.as_bytes());
    i64::from_le_bytes(h.as_bytes()[..8].try_into().unwrap_or([0; 8]))
}

impl Postgres {
    /// Connects to the database at `url`, creates the tables if needed, and starts
    /// listening for invalidations.
    pub fn open(url: &str) -> Result<Postgres, CoordError> {
        let mut config: postgres::Config = url.parse().map_err(CoordError::Url)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(3));
        }
        // Quiet: `CREATE … IF NOT EXISTS` notices are not news.
        config.application_name("tonearm-coord").options("-c client_min_messages=warning");
        let target = format!("{:?}/{}", config.get_hosts().first(), config.get_dbname().unwrap_or(""));
        let unavailable = |source| CoordError::Unavailable { target: target.clone(), source };
        let mut c = config.connect(NoTls).map_err(unavailable)?;
        c.batch_execute(&format!(
            "SELECT pg_advisory_lock({SETUP_LOCK});
             CREATE TABLE IF NOT EXISTS coord_records (ns TEXT NOT NULL, key TEXT NOT NULL, owner BIGINT NOT NULL,
                 value BYTEA NOT NULL, expires_at BIGINT NOT NULL, PRIMARY KEY (ns, key));
             CREATE INDEX IF NOT EXISTS coord_records_owner ON coord_records (ns, owner);
             CREATE TABLE IF NOT EXISTS coord_windows (key TEXT PRIMARY KEY, count BIGINT NOT NULL, started_at BIGINT NOT NULL);
             CREATE TABLE IF NOT EXISTS coord_notes (ns TEXT NOT NULL, owner BIGINT NOT NULL, key TEXT NOT NULL, value BYTEA NOT NULL,
                 set_at TIMESTAMPTZ NOT NULL, expires_at BIGINT NOT NULL, PRIMARY KEY (ns, owner, key));
             SELECT pg_advisory_unlock({SETUP_LOCK});"
        ))
        .map_err(unavailable)?;
        let (releases, to_release) = std::sync::mpsc::channel::<(Client, String)>();
        let pg = Postgres(Arc::new(Inner {
            config,
            idle: Mutex::new(vec![(c, std::time::Instant::now())]),
            releases: Mutex::new(releases),
            pending: Mutex::default(),
            released: std::sync::Condvar::new(),
            local: Local::default(),
        }));
        let releaser = pg.clone();
        std::thread::Builder::new()
            .name("coord-release".into())
            .spawn(move || {
                for (mut c, unlock) in to_release {
                    // A failed unlock still ends with the connection closed, which releases.
                    if c.batch_execute(&unlock).is_ok() {
                        releaser.give(c);
                    } else {
                        drop(c);
                    }
                    lock(&releaser.0.pending).remove(&unlock);
                    releaser.0.released.notify_all();
                }
            })
            .map_err(|e| CoordError::Thread(e.to_string()))?;
        let listener = pg.clone();
        std::thread::Builder::new()
            .name("coord-listen".into())
            .spawn(move || listener.listen())
            .map_err(|e| {
                tracing::error!(error = %e, "could not start the invalidation listener");
            })
            .ok();
        Ok(pg)
    }

    /// An idle connection (checked with a round trip when it has been idle a while: the
    /// server may have restarted since), or a new one.
    fn conn(&self) -> Option<Client> {
        loop {
            let Some((mut c, since)) = lock(&self.0.idle).pop() else { break };
            if c.is_closed() {
                continue;
            }
            if since.elapsed() < Duration::from_secs(2) || c.is_valid(Duration::from_secs(2)).is_ok() {
                return Some(c);
            }
        }
        self.0.config.connect(NoTls).inspect_err(|e| tracing::warn!(error = %e, "coordination database unreachable")).ok()
    }

    fn give(&self, c: Client) {
        let mut idle = lock(&self.0.idle);
        if !c.is_closed() && idle.len() < MAX_IDLE {
            idle.push((c, std::time::Instant::now()));
        }
    }

    /// Runs a short piece of work on a connection; `None` (logged) if the database fails.
    fn run<T>(&self, what: &str, f: impl FnOnce(&mut Client) -> Result<T, postgres::Error>) -> Option<T> {
        let mut c = self.conn()?;
        let out = f(&mut c);
        self.give(c);
        out.inspect_err(|e| tracing::warn!(error = %e, "coordination: {what} failed")).ok()
    }

    /// Holds what `c` locked until dropped; then the release thread runs `unlock` on it.
    fn held(&self, c: Client, unlock: String) -> Held {
        let this = self.clone();
        Held::new(move || {
            lock(&this.0.pending).insert(unlock.clone());
            let sent = lock(&this.0.releases).send((c, unlock));
            // Only if the release thread is gone: the connection is closed here, on a
            // thread of its own, which releases the lock.
            if let Err(std::sync::mpsc::SendError((c, unlock))) = sent {
                lock(&this.0.pending).remove(&unlock);
                std::thread::spawn(move || drop(c));
            }
        })
    }

    /// Waits (a second at most) until this node has released every lock whose unlock
    /// statement starts with `prefix`.
    fn settle(&self, prefix: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(1);
        let mut pending = lock(&self.0.pending);
        while pending.iter().any(|u| u.starts_with(prefix)) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return;
            }
            pending = self.0.released.wait_timeout(pending, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// One listening connection for the life of the process, reconnecting after a second
    /// when it drops; every (re)connect invalidates everything.
    fn listen(self) {
        let mut first = true;
        loop {
            match self.0.config.connect(NoTls) {
                Ok(mut c) => {
                    if c.batch_execute(&format!("LISTEN {CHANNEL}")).is_ok() {
                        if !first {
                            tracing::info!("invalidation listener reconnected");
                        }
                        self.0.local.invalidate(Invalidation::Everything);
                        first = false;
                        self.hear(&mut c);
                    }
                }
                Err(e) => tracing::debug!(error = %e, "invalidation listener cannot connect"),
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// Hands each notification to the subscribers as it arrives, until the connection
    /// fails (checked after every quiet five seconds).
    fn hear(&self, c: &mut Client) {
        loop {
            let mut quiet = true;
            {
                let mut notes = c.notifications();
                let mut it = notes.timeout_iter(Duration::from_secs(5));
                loop {
                    match it.next() {
                        Ok(Some(n)) => {
                            quiet = false;
                            match decode(n.payload()) {
                                Some(what) => self.0.local.invalidate(what),
                                None => tracing::warn!(payload = %n.payload(), "unknown invalidation"),
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "invalidation listener lost its connection");
                            return;
                        }
                    }
                }
            }
            if quiet && c.is_valid(Duration::from_secs(3)).is_err() {
                tracing::warn!("invalidation listener lost its connection");
                return;
            }
        }
    }
}

/// An invalidation as a notification payload, and back.
fn encode(what: &Invalidation) -> String {
    match what {
        Invalidation::User(u) => format!("u:{}", u.0),
        Invalidation::Session(k) => format!("s:{}", k.iter().map(|b| format!("{b:02x}")).collect::<String>()),
        Invalidation::Track(u, t) => format!("t:{}:{}", u.0, t.0),
        Invalidation::Everything => "all".into(),
    }
}

fn decode(p: &str) -> Option<Invalidation> {
    let (kind, rest) = p.split_once(':').unwrap_or((p, ""));
    Some(match kind {
        "u" => Invalidation::User(UserId(rest.parse().ok()?)),
        "t" => {
            let (u, t) = rest.split_once(':')?;
            Invalidation::Track(UserId(u.parse().ok()?), TrackId(t.parse().ok()?))
        }
        "s" if rest.len() == 64 => {
            let mut k = [0u8; 32];
            for (i, b) in k.iter_mut().enumerate() {
                *b = u8::from_str_radix(rest.get(i * 2..i * 2 + 2)?, 16).ok()?;
            }
            Invalidation::Session(k)
        }
        "all" => Invalidation::Everything,
        _ => return None,
    })
}

impl Coordination for Postgres {
    fn try_lock(&self, name: &str) -> Option<Held> {
        let k = key(name);
        self.settle(&format!("SELECT pg_advisory_unlock({k})"));
        let mut c = self.conn()?;
        match c.query_one("SELECT pg_try_advisory_lock($1)", &[&k]).map(|r| r.get::<_, bool>(0)) {
            Ok(true) => Some(self.held(c, format!("SELECT pg_advisory_unlock({k})"))),
            Ok(false) => {
                self.give(c);
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "coordination: lock {name} failed");
                None
            }
        }
    }

    fn try_slot(&self, name: &str, limit: usize) -> Option<Held> {
        let k = (key(name) >> 32) as i32;
        self.settle(&format!("SELECT pg_advisory_unlock({k}, "));
        let mut c = self.conn()?;
        for slot in 0..limit.min(i32::MAX as usize) as i32 {
            match c.query_one("SELECT pg_try_advisory_lock($1, $2)", &[&k, &slot]).map(|r| r.get::<_, bool>(0)) {
                Ok(true) => return Some(self.held(c, format!("SELECT pg_advisory_unlock({k}, {slot})"))),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "coordination: slot {name} failed");
                    return None;
                }
            }
        }
        self.give(c);
        None
    }

    fn gate(&self, name: &str, exclusive: bool) -> Held {
        // This node's gate first (a waiting exclusive holder goes before new shared ones),
        // then the cluster's.
        let here = self.0.local.gate(name, exclusive);
        let k = key(name);
        self.settle(&format!("SELECT pg_advisory_unlock({k})"));
        self.settle(&format!("SELECT pg_advisory_unlock_shared({k})"));
        let (take, release) = match exclusive {
            true => (format!("SELECT pg_advisory_lock({k})"), format!("SELECT pg_advisory_unlock({k})")),
            false => (format!("SELECT pg_advisory_lock_shared({k})"), format!("SELECT pg_advisory_unlock_shared({k})")),
        };
        let Some(mut c) = self.conn() else { return here };
        match c.batch_execute(&take) {
            Ok(()) => {
                let there = self.held(c, release);
                Held::new(move || {
                    drop(there);
                    drop(here);
                })
            }
            Err(e) => {
                tracing::warn!(error = %e, "coordination: gate {name} failed; ordering this node only");
                here
            }
        }
    }

    fn put_once(&self, ns: &str, owner: UserId, key: &str, value: Vec<u8>, ttl_secs: i64, max_per_owner: usize) -> Result<(), Full> {
        let now = now_unix();
        let counted = self.run("keeping a record", |c| {
            let mut tx = c.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&self::key(&format!("{ns}\u{1f}{}", owner.0))])?;
            tx.execute("DELETE FROM coord_records WHERE expires_at < $1", &[&(now - RECORD_GRACE_SECS)])?;
            let open: i64 = tx.query_one("SELECT COUNT(*) FROM coord_records WHERE ns = $1 AND owner = $2 AND expires_at > $3", &[&ns, &owner.0, &now])?.get(0);
            if open as usize >= max_per_owner {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO coord_records (ns, key, owner, value, expires_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (ns, key) DO UPDATE SET owner = excluded.owner, value = excluded.value, expires_at = excluded.expires_at",
                &[&ns, &key, &owner.0, &value, &(now + ttl_secs)],
            )?;
            tx.commit()?;
            Ok(true)
        });
        if counted == Some(true) { Ok(()) } else { Err(Full) }
    }

    fn take_once(&self, ns: &str, owner: UserId, key: &str) -> Option<Taken> {
        let row = self.run("taking a record", |c| {
            c.query_opt("DELETE FROM coord_records WHERE ns = $1 AND key = $2 AND owner = $3 RETURNING value, expires_at", &[&ns, &key, &owner.0])
        })??;
        let (value, expires): (Vec<u8>, i64) = (row.get(0), row.get(1));
        Some(if expires > now_unix() { Taken::Live(value) } else { Taken::Expired })
    }

    fn note(&self, ns: &str, owner: UserId, key: &str, value: Vec<u8>, ttl_secs: i64, max_per_owner: usize) {
        let now = now_unix();
        self.run("keeping a note", |c| {
            let mut tx = c.transaction()?;
            tx.execute("DELETE FROM coord_notes WHERE ns = $1 AND owner = $2 AND expires_at <= $3", &[&ns, &owner.0, &now])?;
            tx.execute(
                "INSERT INTO coord_notes (ns, owner, key, value, set_at, expires_at) VALUES ($1, $2, $3, $4, clock_timestamp(), $5)
                 ON CONFLICT (ns, owner, key) DO UPDATE SET value = excluded.value, set_at = excluded.set_at, expires_at = excluded.expires_at",
                &[&ns, &owner.0, &key, &value, &(now + ttl_secs)],
            )?;
            tx.execute(
                "DELETE FROM coord_notes WHERE ns = $1 AND owner = $2 AND key NOT IN
                     (SELECT key FROM coord_notes WHERE ns = $1 AND owner = $2 ORDER BY set_at DESC LIMIT $3)",
                &[&ns, &owner.0, &(max_per_owner as i64)],
            )?;
            tx.commit()
        });
    }

    fn notes(&self, ns: &str, owner: UserId) -> Vec<(String, Vec<u8>)> {
        let rows = self.run("reading notes", |c| {
            c.query("SELECT key, value FROM coord_notes WHERE ns = $1 AND owner = $2 AND expires_at > $3 ORDER BY set_at DESC", &[&ns, &owner.0, &now_unix()])
        });
        rows.unwrap_or_default().iter().map(|r| (r.get(0), r.get(1))).collect()
    }

    fn window(&self, key: &str, window_secs: i64) -> (u32, i64) {
        let now = now_unix();
        let row = self.run("reading a window", |c| c.query_opt("SELECT count, started_at FROM coord_windows WHERE key = $1", &[&key])).flatten();
        match row.map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1))) {
            Some((n, since)) if now - since < window_secs => (n.clamp(0, u32::MAX as i64) as u32, since),
            _ => (0, now),
        }
    }

    fn bump(&self, key: &str, window_secs: i64) {
        let now = now_unix();
        self.run("counting an event", |c| {
            c.execute(
                "INSERT INTO coord_windows (key, count, started_at) VALUES ($1, 1, $2)
                 ON CONFLICT (key) DO UPDATE SET
                     count = CASE WHEN $2 - coord_windows.started_at >= $3 THEN 1 ELSE coord_windows.count + 1 END,
                     started_at = CASE WHEN $2 - coord_windows.started_at >= $3 THEN $2 ELSE coord_windows.started_at END",
                &[&key, &now, &window_secs],
            )
        });
    }

    fn clear(&self, key: &str) {
        self.run("clearing a window", |c| c.execute("DELETE FROM coord_windows WHERE key = $1", &[&key]));
    }

    fn invalidate(&self, what: Invalidation) {
        // This node at once; the others (and this one again, harmlessly) when they hear it.
        self.0.local.invalidate(what);
        self.run("sending an invalidation", |c| c.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &encode(&what)]));
    }

    fn subscribe(&self, f: Subscriber) {
        self.0.local.subscribe(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalidations_survive_the_trip_through_a_payload() {
        for what in [Invalidation::User(UserId(7)), Invalidation::Session([0xab; 32]), Invalidation::Track(UserId(1), TrackId(99)), Invalidation::Everything] {
            assert_eq!(decode(&encode(&what)), Some(what));
        }
        assert_eq!(decode("s:12"), None);
        assert_eq!(decode("x:1"), None);
    }
}
