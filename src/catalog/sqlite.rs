//! SQLite engine of the catalog: one file (`tonearm.db`) in the data directory, WAL mode,
//! one writer connection and a small pool of readers.
//!
//! Owns: connections, transactions, the migrations' runner (`PRAGMA user_version`) and
//! the [`Db`] seam over rusqlite. The SQL itself is shared (`sql`); decisions live in
//! `rules` and `tx`. The only module of the crate that knows rusqlite.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, Transaction};

use super::db::{Db, DbExt, Engine, Row, ToArg, Val, args, backend};
use super::schema::{MIGRATIONS, TRACK_FOLDERS};
use super::{CatalogError, Result, rules};
use crate::domain::TrackId;

const MAX_READERS: usize = 8;

impl From<rusqlite::Error> for CatalogError {
    fn from(e: rusqlite::Error) -> Self {
        CatalogError::Backend(Box::new(e))
    }
}

/// The engine: the file, its writer, idle readers.
pub(crate) struct Sqlite {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn open_conn(path: &Path) -> Result<Connection> {
    let c = Connection::open(path).map_err(|e| CatalogError::Open { path: path.to_path_buf(), message: e.to_string() })?;
    c.busy_timeout(std::time::Duration::from_secs(10))?;
    c.set_prepared_statement_cache_capacity(256);
    c.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;
         PRAGMA cache_size = -8000; PRAGMA temp_store = MEMORY;",
    )?;
    Ok(c)
}

impl Sqlite {
    /// Opens (creating and migrating if needed) the catalog file at `path`.
    pub(crate) fn open(path: impl Into<PathBuf>) -> Result<Sqlite> {
        let path = path.into();
        let mut w = open_conn(&path)?;
        migrate(&mut w)?;
        // Gives the query planner statistics where they are missing or stale (cheap when not).
        w.execute_batch("PRAGMA optimize = 0x10002;")?;
        Ok(Sqlite { path, writer: Mutex::new(w), readers: Mutex::new(Vec::new()) })
    }
}

impl Engine for Sqlite {
    fn read(&self, f: &mut dyn FnMut(&mut dyn Db) -> Result<()>) -> Result<()> {
        let conn = lock(&self.readers).pop();
        let conn = match conn {
            Some(c) => c,
            None => open_conn(&self.path)?,
        };
        let out = f(&mut Conn(&conn));
        let mut pool = lock(&self.readers);
        if pool.len() < MAX_READERS {
            pool.push(conn);
        }
        out
    }

    fn write(&self, f: &mut dyn FnMut(&mut dyn Db) -> Result<()>) -> Result<()> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        f(&mut Conn(&tx))?;
        tx.commit()?;
        Ok(())
    }
}

/// A connection (or the transaction open on it) as the seam's [`Db`].
struct Conn<'c>(&'c Connection);

/// An argument as rusqlite binds it.
struct Arg<'a>(Val<'a>);

impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self.0 {
            Val::Null => ValueRef::Null,
            Val::Int(n) => ValueRef::Integer(n),
            Val::Real(x) => ValueRef::Real(x),
            Val::Text(s) => ValueRef::Text(s.as_bytes()),
            Val::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

fn bind<'a>(args: &'a [&'a dyn ToArg]) -> impl Iterator<Item = Arg<'a>> {
    args.iter().map(|a| Arg(a.to_arg()))
}

struct SqliteRow<'r, 's>(&'r rusqlite::Row<'s>);

impl Row for SqliteRow<'_, '_> {
    fn cell(&self, i: usize) -> Result<Val<'_>> {
        Ok(match self.0.get_ref(i)? {
            ValueRef::Null => Val::Null,
            ValueRef::Integer(n) => Val::Int(n),
            ValueRef::Real(x) => Val::Real(x),
            ValueRef::Text(t) => Val::Text(std::str::from_utf8(t).map_err(|e| backend(format!("column {i}: {e}")))?),
            ValueRef::Blob(b) => Val::Blob(b),
        })
    }
}

impl Db for Conn<'_> {
    fn execute(&mut self, sql: &str, args: &[&dyn ToArg]) -> Result<u64> {
        Ok(self.0.prepare_cached(sql)?.execute(rusqlite::params_from_iter(bind(args)))? as u64)
    }

    fn each(&mut self, sql: &str, args: &[&dyn ToArg], f: &mut dyn FnMut(&dyn Row) -> Result<()>) -> Result<()> {
        let mut st = self.0.prepare_cached(sql)?;
        let mut rows = st.query(rusqlite::params_from_iter(bind(args)))?;
        while let Some(r) = rows.next()? {
            f(&SqliteRow(r))?;
        }
        Ok(())
    }
}

fn migrate(c: &mut Connection) -> Result<()> {
    let version: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(CatalogError::TooNew { found: version, known });
    }
    if version == known {
        return Ok(());
    }
    // Migrations that rebuild a table (SQLite's way to change constraints) run with foreign
    // keys off, then check them before committing (https://sqlite.org/lang_altertable.html).
    c.execute_batch("PRAGMA foreign_keys = OFF;")?;
    let result = (|| {
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = c.transaction()?;
            tx.execute_batch(sql)?;
            if i + 1 == TRACK_FOLDERS {
                backfill_folders(&tx)?;
            }
            let broken: i64 = tx.query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| r.get(0))?;
            if broken > 0 {
                return Err(CatalogError::Invalid(format!("migration {} leaves {broken} broken references", i + 1)));
            }
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
            tracing::debug!(version = i + 1, "catalog migration applied");
        }
        // One line for the whole run: a new catalog, or an upgrade from one version to another.
        let now = MIGRATIONS.len() as i64;
        match version {
            0 => tracing::info!(version = now, "catalog created"),
            v if v < now => tracing::info!(from = v, to = now, "catalog upgraded"),
            _ => {}
        }
        Ok(())
    })();
    c.execute_batch("PRAGMA foreign_keys = ON;")?;
    result
}

/// Migration 6's data: each track's folder, from its album's key where the album was
/// grouped by folder, else from the path it was imported from (uploads have none).
fn backfill_folders(tx: &Transaction<'_>) -> Result<()> {
    let mut db = Conn(tx);
    let rows = db.all(
        "SELECT t.id, a.group_key, (SELECT s.path FROM sources s WHERE s.track_id = t.id LIMIT 1)
         FROM tracks t JOIN albums a ON a.id = t.album_id",
        args![],
        |r| Ok((r.get::<TrackId>(0)?, r.get::<String>(1)?, r.get::<Option<String>>(2)?)),
    )?;
    for (id, key, path) in rows {
        if let Some(folder) = rules::folder_of_key(&key).or_else(|| path.as_deref().and_then(rules::folder_of_path)) {
            db.execute("UPDATE tracks SET folder = ?2 WHERE id = ?1", args![id, folder])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::prelude::*;
    use crate::catalog::testing::file;
    use crate::catalog::{AlbumSort, CatalogError, Page};
    use crate::domain::{ContentHash, Part, UserId};

    #[test]
    fn version_3_catalogs_migrate_to_whole_file_parts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        {
            let c = Connection::open(&path).unwrap();
            for sql in &MIGRATIONS[..3] {
                c.execute_batch(sql).unwrap();
            }
            c.execute_batch(
                "PRAGMA user_version = 3;
                 INSERT INTO users (id, username, password_hash, created_at) VALUES (1, 'a', 'x', 0);
                 INSERT INTO blobs VALUES (x'0101010101010101010101010101010101010101010101010101010101010101', 1234, 1, 0);
                 INSERT INTO media VALUES (x'0101010101010101010101010101010101010101010101010101010101010101', 'flac', 'flac', 44100, 2, 16, 44100, 0, 0, 900, NULL);
                 INSERT INTO artists VALUES (1, 1, 'A', 'a', 'a');
                 INSERT INTO albums (id, user_id, group_key, title, artist, artist_id, explicit_artist, sort_title, sort_artist, compilation, track_count, duration, added_at)
                    VALUES (1, 1, 'k', 'T', 'A', 1, 1, 't', 'a', 0, 1, 1.0, 0);
                 INSERT INTO tracks (id, user_id, media_hash, album_id, artist_id, title, artist, artists, compilation, file_name, added_at)
                    VALUES (7, 1, x'0101010101010101010101010101010101010101010101010101010101010101', 1, 1, 'S', 'A', '[\"A\"]', 0, 's.flac', 0);",
            )
            .unwrap();
        }
        let cat = super::super::open_sqlite(&path).unwrap();
        let t = cat.track(UserId(1), TrackId(7)).unwrap().unwrap();
        let h = ContentHash([1; 32]);
        assert_eq!((t.file.size, t.file.parts.clone(), t.file.audio), (1234, vec![Part { hash: h, len: 1234 }], h));
        assert_eq!(cat.delete_tracks(UserId(1), &[TrackId(7)]).unwrap(), vec![h]);
    }

    #[test]
    fn version_5_catalogs_learn_each_tracks_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let bytes = |n: u8| format!("x'{}'", format!("{n:02x}").repeat(32));
        {
            let c = Connection::open(&path).unwrap();
            for sql in &MIGRATIONS[..5] {
                c.execute_batch(sql).unwrap();
            }
            let mut sql = String::from(
                "PRAGMA user_version = 5;
                 INSERT INTO users (id, username, password_hash, created_at) VALUES (1, 'a', 'x', 0);
                 INSERT INTO artists VALUES (1, 1, 'Björk', 'bjork', 'bjork');
                 INSERT INTO albums (id, user_id, group_key, title, artist, artist_id, explicit_artist, sort_title, sort_artist, compilation, track_count, duration, added_at)
                    VALUES (1, 1, 'a' || char(31) || 'bjork' || char(31) || 'homogenic', 'Homogenic', 'Björk', 1, 1, 'homogenic', 'bjork', 0, 2, 2.0, 0),
                           (2, 1, 'd' || char(31) || '/m/Misc' || char(31) || 'homogenic', 'Homogenic', 'Sjón', 1, 0, 'homogenic', 'sjon', 0, 1, 1.0, 0);",
            );
            for (id, album, src) in [(1, 1, Some("/m/Björk - Homogenic/01 Hunter.flac")), (2, 1, None), (3, 2, None)] {
                sql += &format!(
                    "INSERT INTO blobs VALUES ({h}, 10, 1, 0);
                     INSERT INTO media (hash, container, codec, sample_rate, channels, frames, priming, duration_counted, bitrate, size, audio_hash, parts)
                        VALUES ({h}, 'flac', 'flac', 44100, 2, 44100, 0, 0, 900, 10, {h}, '{hex}:10');
                     INSERT INTO tracks (id, user_id, media_hash, album_id, artist_id, title, artist, artists, compilation, file_name, added_at)
                        VALUES ({id}, 1, {h}, {album}, 1, 'T{id}', 'Björk', '[\"Björk\"]', 0, 't.flac', 0);",
                    h = bytes(id as u8),
                    hex = format!("{:02x}", id as u8).repeat(32),
                );
                if let Some(p) = src {
                    sql += &format!("INSERT INTO sources VALUES (1, '{p}', 10, 0, {id});");
                }
            }
            c.execute_batch(&sql).unwrap();
        }
        let cat = super::super::open_sqlite(&path).unwrap();
        let folders: Vec<Option<String>> = {
            let c = Connection::open(&path).unwrap();
            let mut st = c.prepare("SELECT folder FROM tracks ORDER BY id").unwrap();
            st.query_map([], |r| r.get(0)).unwrap().map(|r| r.unwrap()).collect()
        };
        assert_eq!(folders, [Some("/m/Björk - Homogenic".to_string()), None, Some("/m/Misc".into())]);
        // The folder's untagged file added now finds its tagged album.
        cat.add_tracks(&[file(UserId(1), 9, "Jóga", "Björk", None, Some("/m/Björk - Homogenic"))]).unwrap();
        let (list, _) = cat.list_albums(UserId(1), AlbumSort::Title, Page::new(None, None)).unwrap();
        assert_eq!(list.iter().map(|a| (a.id.0, a.track_count)).collect::<Vec<_>>(), [(1, 3), (2, 1)]);
    }

    #[test]
    fn engine_errors_keep_their_source_without_naming_rusqlite() {
        let e = CatalogError::from(rusqlite::Error::QueryReturnedNoRows);
        assert!(matches!(e, CatalogError::Backend(_)));
        assert!(e.to_string().starts_with("database: "), "{e}");
        assert!(std::error::Error::source(&e).is_some());
    }
}
