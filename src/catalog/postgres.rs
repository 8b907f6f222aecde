//! PostgreSQL engine of the catalog: a bounded pool of connections to one database, the
//! migrations run once under an advisory lock however many nodes start together, and the
//! [`Db`] seam over the `postgres` crate (`?N` placeholders become `$N`; cells are read
//! by their column's type).
//!
//! Writers run one at a time across the whole cluster, as SQLite's do in one file: each
//! write transaction first takes one transaction-level advisory lock, so the shared
//! transactions (`tx`: read, decide, write) stay correct on several nodes at once.
//! A node queues its own writers on a mutex before they take a connection.
//!
//! Owns: connections, transactions, migrations' runner, type mapping, and which failures
//! mean "the database is unavailable" (`CatalogError::Unavailable`: the server is down,
//! restarting, unreachable or over its time limits) rather than a fault in a statement.
//! The only module of the crate that knows the `postgres` crate; no SQL but the runner's.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, GenericClient, NoTls, Statement};

use super::db::{Db, Engine, Row, ToArg, Val, backend};
use super::schema::POSTGRES_MIGRATIONS;
use super::{CatalogError, Result};

/// Connections one node opens at most; a caller waits [`WAIT`] for one to come free.
const MAX_CONNECTIONS: usize = 16;
const WAIT: Duration = Duration::from_secs(5);
/// Advisory lock keys ("tonearm" and a number).
const WRITE_LOCK: i64 = 0x746f_6e65_6172_6d01;
const MIGRATE_LOCK: i64 = 0x746f_6e65_6172_6d02;
/// Server-side limits, so that no statement or lock wait hangs a request.
const SESSION_OPTIONS: &str = "-c statement_timeout=20000 -c lock_timeout=15000 -c idle_in_transaction_session_timeout=60000 -c client_min_messages=warning";

impl From<postgres::Error> for CatalogError {
    fn from(e: postgres::Error) -> Self {
        if unavailable(&e) { CatalogError::Unavailable(e.to_string()) } else { CatalogError::Backend(Box::new(e)) }
    }
}

/// Whether an error says the server cannot answer now (and a retry later may work).
fn unavailable(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(code) = e.code() {
        // Canceled by statement_timeout, lock not available, shutting down, cannot connect
        // now, too many connections, and the connection exceptions (class 08).
        return matches!(code.code(), "57014" | "55P03" | "57P01" | "57P02" | "57P03" | "53300") || code.code().starts_with("08");
    }
    let io = std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>());
    let text = e.to_string();
    io || text.starts_with("error connecting") || text.starts_with("timeout") || text.starts_with("error communicating")
}

/// The engine: where to connect, the pool, the node's writer queue.
pub(crate) struct Postgres {
    config: postgres::Config,
    /// Host, port and database, for messages (never the password).
    target: String,
    pool: Mutex<Pool>,
    freed: Condvar,
    writer: Mutex<()>,
}

struct Pool {
    /// Idle connections and when each was last given back.
    idle: Vec<(PgConn, Instant)>,
    open: usize,
}

/// An idle connection older than this is checked (one round trip) before it is used: the
/// server may have restarted meanwhile, which an idle connection does not notice.
const CHECK_IDLE_AFTER: Duration = Duration::from_secs(2);

struct PgConn {
    client: Client,
    /// Statements prepared on this connection, by their shared SQL text.
    stmts: HashMap<String, Statement>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Postgres {
    /// Connects to the database at `url` (`postgres://user:pass@host:port/db`) and brings
    /// its schema up to date.
    pub(crate) fn open(url: &str) -> Result<Postgres> {
        let mut config: postgres::Config = url.parse().map_err(|e| CatalogError::Invalid(format!("catalog url: {e}")))?;
        let target = describe(&config);
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(3));
        }
        config.options(SESSION_OPTIONS).application_name("tonearm");
        let pg = Postgres { config, target, pool: Mutex::new(Pool { idle: Vec::new(), open: 0 }), freed: Condvar::new(), writer: Mutex::new(()) };
        let mut conn = pg.take()?;
        let migrated = migrate(&mut conn.client);
        pg.give(conn);
        migrated?;
        Ok(pg)
    }

    fn connect(&self) -> Result<PgConn> {
        let client = self.config.connect(NoTls).map_err(|e| CatalogError::Unavailable(format!("{}: {e}", self.target)))?;
        Ok(PgConn { client, stmts: HashMap::new() })
    }

    /// A connection: an idle one, a new one while fewer than [`MAX_CONNECTIONS`] are
    /// open, or the next one freed within [`WAIT`].
    fn take(&self) -> Result<PgConn> {
        let mut pool = lock(&self.pool);
        loop {
            if let Some((mut c, since)) = pool.idle.pop() {
                if c.client.is_closed() {
                    pool.open -= 1;
                    continue;
                }
                if since.elapsed() < CHECK_IDLE_AFTER {
                    return Ok(c);
                }
                drop(pool);
                if c.client.is_valid(Duration::from_secs(2)).is_ok() {
                    return Ok(c);
                }
                pool = lock(&self.pool);
                pool.open -= 1;
                continue;
            }
            if pool.open < MAX_CONNECTIONS {
                pool.open += 1;
                drop(pool);
                return self.connect().inspect_err(|_| {
                    lock(&self.pool).open -= 1;
                    self.freed.notify_one();
                });
            }
            let (guard, waited) = self.freed.wait_timeout(pool, WAIT).unwrap_or_else(|p| p.into_inner());
            pool = guard;
            if waited.timed_out() && pool.idle.is_empty() && pool.open >= MAX_CONNECTIONS {
                return Err(CatalogError::Unavailable(format!("all {MAX_CONNECTIONS} connections to {} are busy", self.target)));
            }
        }
    }

    fn give(&self, c: PgConn) {
        let mut pool = lock(&self.pool);
        if c.client.is_closed() {
            pool.open -= 1;
        } else {
            pool.idle.push((c, Instant::now()));
        }
        drop(pool);
        self.freed.notify_one();
    }
}

/// `host:port/db` of a connection config.
fn describe(c: &postgres::Config) -> String {
    let host = match c.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = c.get_ports().first().copied().unwrap_or(5432);
    format!("postgres {host}:{port}/{}", c.get_dbname().unwrap_or("postgres"))
}

impl Engine for Postgres {
    fn read(&self, f: &mut dyn FnMut(&mut dyn Db) -> Result<()>) -> Result<()> {
        let mut conn = self.take()?;
        let PgConn { client, stmts } = &mut conn;
        let out = f(&mut PgDb { c: client, stmts });
        self.give(conn);
        out
    }

    fn write(&self, f: &mut dyn FnMut(&mut dyn Db) -> Result<()>) -> Result<()> {
        let _one_writer_here = lock(&self.writer);
        let mut conn = self.take()?;
        let out = (|| {
            let PgConn { client, stmts } = &mut conn;
            let mut tx = client.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])?;
            f(&mut PgDb { c: &mut tx, stmts })?;
            tx.commit()?;
            Ok(())
        })();
        self.give(conn);
        out
    }
}

/// Brings the schema to [`POSTGRES_MIGRATIONS`]' version, one migration per transaction,
/// while holding the migration lock: a node that starts at the same moment waits, then
/// finds nothing left to do.
fn migrate(client: &mut Client) -> Result<()> {
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATE_LOCK])?;
    let out = (|| {
        client.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")?;
        let version = match client.query_opt("SELECT version FROM schema_version", &[])? {
            Some(row) => row.get::<_, i64>(0),
            None => {
                client.execute("INSERT INTO schema_version (version) VALUES (0)", &[])?;
                0
            }
        };
        let known = POSTGRES_MIGRATIONS.len() as i64;
        if version > known {
            return Err(CatalogError::TooNew { found: version, known });
        }
        for (i, sql) in POSTGRES_MIGRATIONS.iter().enumerate().skip(version as usize) {
            let mut tx = client.transaction()?;
            tx.batch_execute(sql)?;
            tx.execute("UPDATE schema_version SET version = $1", &[&(i as i64 + 1)])?;
            tx.commit()?;
        }
        match version {
            0 => tracing::info!(version = known, "catalog created on PostgreSQL"),
            v if v < known => tracing::info!(from = v, to = known, "catalog upgraded on PostgreSQL"),
            _ => {}
        }
        Ok(())
    })();
    let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATE_LOCK]);
    out?;
    unlocked?;
    Ok(())
}

/// The shared SQL's `?N` placeholders as PostgreSQL's `$N` (outside string literals).
fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '\'' => quoted = !quoted,
            '?' if !quoted && chars.peek().is_some_and(char::is_ascii_digit) => {
                out.push('$');
                continue;
            }
            _ => {}
        }
        out.push(ch);
    }
    out
}

/// A connection or transaction with its connection's statement cache.
struct PgDb<'a, C: GenericClient> {
    c: &'a mut C,
    stmts: &'a mut HashMap<String, Statement>,
}

impl<C: GenericClient> PgDb<'_, C> {
    fn statement(&mut self, sql: &str) -> Result<Statement> {
        if let Some(st) = self.stmts.get(sql) {
            return Ok(st.clone());
        }
        let st = self.c.prepare(&placeholders(sql))?;
        self.stmts.insert(sql.to_string(), st.clone());
        Ok(st)
    }
}

/// An argument as PostgreSQL takes it: converted to the type the server inferred for it.
#[derive(Debug)]
struct Arg<'a>(Val<'a>);

impl ToSql for Arg<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self.0 {
            Val::Null => Ok(IsNull::Yes),
            Val::Int(n) => match *ty {
                Type::INT8 => n.to_sql(ty, out),
                Type::INT4 => i32::try_from(n)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(n)?.to_sql(ty, out),
                Type::BOOL => (n != 0).to_sql(ty, out),
                Type::FLOAT8 => (n as f64).to_sql(ty, out),
                Type::FLOAT4 => (n as f32).to_sql(ty, out),
                _ => n.to_string().as_str().to_sql(ty, out),
            },
            Val::Real(x) => match *ty {
                Type::FLOAT4 => (x as f32).to_sql(ty, out),
                _ => x.to_sql(ty, out),
            },
            Val::Text(s) => s.to_sql(ty, out),
            Val::Blob(b) => b.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A cell's bytes as the server sent them (binary format), decoded by [`PgRow::cell`].
struct Raw<'a>(&'a [u8]);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

struct PgRow<'r>(&'r postgres::Row);

impl Row for PgRow<'_> {
    fn cell(&self, i: usize) -> Result<Val<'_>> {
        let column = self.0.columns().get(i).ok_or_else(|| backend(format!("no column {i}")))?;
        let Some(Raw(raw)) = self.0.try_get::<_, Option<Raw>>(i)? else { return Ok(Val::Null) };
        let bad = || backend(format!("column {i} ({}): {} bytes", column.type_(), raw.len()));
        let int = |n: usize| -> Result<i64> {
            let b = raw.get(..n).ok_or_else(bad)?;
            Ok(match n {
                2 => i16::from_be_bytes([b[0], b[1]]).into(),
                4 => i32::from_be_bytes([b[0], b[1], b[2], b[3]]).into(),
                _ => i64::from_be_bytes(b.try_into().map_err(|_| bad())?),
            })
        };
        Ok(match *column.type_() {
            Type::INT8 => Val::Int(int(8)?),
            Type::INT4 => Val::Int(int(4)?),
            Type::INT2 => Val::Int(int(2)?),
            Type::BOOL => Val::Int(i64::from(raw.first().is_some_and(|&b| b != 0))),
            Type::FLOAT8 => Val::Real(f64::from_bits(int(8)? as u64)),
            Type::FLOAT4 => Val::Real(f32::from_bits(int(4)? as u32).into()),
            Type::NUMERIC => numeric(raw).ok_or_else(bad)?,
            Type::BYTEA => Val::Blob(raw),
            _ => Val::Text(std::str::from_utf8(raw).map_err(|_| bad())?),
        })
    }
}

/// A NUMERIC cell (what `SUM` and `AVG` of integers answer): an integer when it has no
/// fraction and fits, else a float. Binary format: digit count, weight, sign, scale, then
/// base-10000 digits (PostgreSQL's `numeric_send`).
fn numeric(raw: &[u8]) -> Option<Val<'static>> {
    let word = |i: usize| raw.get(i * 2..i * 2 + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let (count, weight, sign, scale) = (word(0)? as usize, word(1)? as i16, word(2)?, word(3)?);
    if sign == 0xC000 {
        return Some(Val::Real(f64::NAN));
    }
    let mut x = 0f64;
    let mut whole: Option<i64> = (scale == 0).then_some(0);
    for k in 0..count {
        let d = word(4 + k)?;
        let power = i32::from(weight) - k as i32;
        x += f64::from(d) * 10000f64.powi(power);
        whole = whole.and_then(|w| if power >= 0 { w.checked_add(i64::from(d).checked_mul(10000i64.checked_pow(power as u32)?)?) } else { Some(w) });
    }
    let negative = sign == 0x4000;
    Some(match whole {
        Some(w) => Val::Int(if negative { -w } else { w }),
        None => Val::Real(if negative { -x } else { x }),
    })
}

impl<C: GenericClient> Db for PgDb<'_, C> {
    fn execute(&mut self, sql: &str, args: &[&dyn ToArg]) -> Result<u64> {
        let st = self.statement(sql)?;
        let bound: Vec<Arg<'_>> = args.iter().map(|a| Arg(a.to_arg())).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = bound.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
        Ok(self.c.execute(&st, &refs)?)
    }

    fn each(&mut self, sql: &str, args: &[&dyn ToArg], f: &mut dyn FnMut(&dyn Row) -> Result<()>) -> Result<()> {
        let st = self.statement(sql)?;
        let bound: Vec<Arg<'_>> = args.iter().map(|a| Arg(a.to_arg())).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = bound.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
        for row in self.c.query(&st, &refs)? {
            f(&PgRow(&row))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_dollars_outside_literals() {
        assert_eq!(placeholders("SELECT ?1, '?2', ?10 WHERE a = ?3"), "SELECT $1, '?2', $10 WHERE a = $3");
    }

    #[test]
    fn numerics_decode_as_postgres_sends_them() {
        // 12345678 = [1234, 5678], weight 1; -2.5 = [2, 5000], weight 0, scale 1.
        let enc = |words: &[u16]| words.iter().flat_map(|w| w.to_be_bytes()).collect::<Vec<u8>>();
        assert_eq!(numeric(&enc(&[2, 1, 0, 0, 1234, 5678])), Some(Val::Int(12_345_678)));
        assert_eq!(numeric(&enc(&[2, 0, 0x4000, 1, 2, 5000])), Some(Val::Real(-2.5)));
        assert_eq!(numeric(&enc(&[0, 0, 0, 0])), Some(Val::Int(0)));
        assert_eq!(numeric(&enc(&[1, 0])), None, "truncated");
    }
}
