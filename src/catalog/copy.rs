//! Copying a SQLite catalog into PostgreSQL (`tonearm migrate --to-catalog`): every table
//! in the order its references need, row by row through the [`db`](super::db) seam (a
//! cell keeps its value; PostgreSQL converts it to the column's type), in transactions of
//! [`BATCH`] rows. A row already there is skipped, so an interrupted copy resumes where it
//! stopped and a finished one, run again, changes nothing. Identity sequences are moved
//! past the copied ids at the end.
//!
//! Owns: the table order and the copy. Knows no engine crate (it drives both engines'
//! [`Engine`]s); the store's blobs are copied by the caller.

use super::db::{DbExt, Engine, Val, args, read, write};
use super::{CatalogError, Result};

/// Rows per PostgreSQL transaction.
const BATCH: usize = 1000;

/// Every table, parents before children (foreign keys hold at each commit).
const TABLES: &[&str] = &[
    "users",
    "sessions",
    "api_keys",
    "blobs",
    "covers",
    "media",
    "lyrics",
    "artists",
    "albums",
    "tracks",
    "sources",
    "track_artists",
    "playlists",
    "playlist_tracks",
    "favourites",
    "ratings",
    "plays",
    "play_queues",
    "album_marks",
    "artist_marks",
    "bookmarks",
    "shares",
    "share_tracks",
    "library_changes",
    "server_keys",
    "resumable_uploads",
    "resumable_chunks",
];

/// Tables whose `id` PostgreSQL makes (an identity column).
const IDENTITIES: &[&str] = &["users", "api_keys", "artists", "albums", "tracks", "playlists", "plays", "shares"];

/// A table copied: rows read, rows that were new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub table: &'static str,
    pub rows: u64,
    pub added: u64,
}

/// An owned cell, held between reading a batch and writing it.
#[derive(Debug, Clone)]
enum Owned {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Owned {
    fn of(v: Val<'_>) -> Owned {
        match v {
            Val::Null => Owned::Null,
            Val::Int(n) => Owned::Int(n),
            Val::Real(x) => Owned::Real(x),
            Val::Text(s) => Owned::Text(s.to_string()),
            Val::Blob(b) => Owned::Blob(b.to_vec()),
        }
    }
}

impl super::db::ToArg for Owned {
    fn to_arg(&self) -> Val<'_> {
        match self {
            Owned::Null => Val::Null,
            Owned::Int(n) => Val::Int(*n),
            Owned::Real(x) => Val::Real(*x),
            Owned::Text(s) => Val::Text(s),
            Owned::Blob(b) => Val::Blob(b),
        }
    }
}

/// Copies every row of `from` (a SQLite catalog) into `to` (a PostgreSQL catalog at the
/// same schema), telling `progress` each table's (name, rows copied so far, rows).
pub(crate) fn copy(from: &dyn Engine, to: &dyn Engine, progress: &dyn Fn(&str, u64, u64)) -> Result<Vec<Copied>> {
    let mut done = Vec::new();
    for &table in TABLES {
        let columns: Vec<(String, i64)> =
            read(from, |c| c.all(&format!("SELECT name, pk FROM pragma_table_info('{table}') ORDER BY cid"), args![], |r| Ok((r.get(0)?, r.get(1)?))))?;
        let mut key: Vec<&(String, i64)> = columns.iter().filter(|c| c.1 > 0).collect();
        key.sort_by_key(|c| c.1);
        let order = key.iter().map(|c| c.0.as_str()).collect::<Vec<_>>().join(", ");
        let columns: Vec<String> = columns.iter().map(|c| c.0.clone()).collect();
        if columns.is_empty() {
            return Err(CatalogError::Invalid(format!("the SQLite catalog has no table {table}: upgrade it first (start this build once)")));
        }
        let total: u64 = read(from, |c| c.scalar(&format!("SELECT COUNT(*) FROM {table}"), args![]))?;
        let list = columns.join(", ");
        let marks = (1..=columns.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
        let insert = format!("INSERT INTO {table} ({list}) VALUES ({marks}) ON CONFLICT DO NOTHING");
        let (mut rows, mut added, mut offset) = (0u64, 0u64, 0u64);
        progress(table, 0, total);
        loop {
            let sql = format!("SELECT {list} FROM {table} ORDER BY {order} LIMIT {BATCH} OFFSET {offset}");
            let batch: Vec<Vec<Owned>> = read(from, |c| c.all(&sql, args![], |r| (0..columns.len()).map(|i| r.cell(i).map(Owned::of)).collect()))?;
            if batch.is_empty() {
                break;
            }
            let new = write(to, |db| {
                let mut new = 0;
                for row in &batch {
                    let refs: Vec<&dyn super::db::ToArg> = row.iter().map(|v| v as &dyn super::db::ToArg).collect();
                    new += db.execute(&insert, &refs)?;
                }
                Ok(new)
            })?;
            rows += batch.len() as u64;
            added += new;
            offset += batch.len() as u64;
            progress(table, rows, total);
        }
        done.push(Copied { table, rows, added });
    }
    // The library generations: past the source's, so no cache mistakes an old one.
    let generation: i64 = read(from, |c| c.scalar("SELECT value FROM meta WHERE key = 'library_generation'", args![]))?;
    write(to, |db| {
        db.execute("UPDATE meta SET value = ?1 WHERE key = 'library_generation' AND value < ?1", args![generation])?;
        for table in IDENTITIES {
            db.execute(&format!("SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"), args![])?;
        }
        Ok(())
    })?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::super::prelude::*;
    use super::super::testing::{scratch_database, track};
    use super::super::{AddOutcome, AlbumSort, Page};
    use crate::catalog::{postgres::Postgres, sqlite::Sqlite};

    #[test]
    fn a_sqlite_catalog_copies_into_postgres_whole_and_resumably() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let lite = super::super::open_sqlite(&path).unwrap();
        let a = lite.create_user("alice", "hash", true).unwrap().id;
        let tracks: Vec<_> = (0..30).map(|i| track(a, i, &format!("Song {i}"))).collect();
        let ids: Vec<_> = lite.add_tracks(&tracks).unwrap().into_iter().map(|o| if let AddOutcome::Added(i) = o { i } else { panic!() }).collect();
        let p = lite.create_playlist(a, "mix", &ids[..5]).unwrap();
        lite.set_star(a, ids[3], true).unwrap();
        lite.server_key("signing", &[7; 32]).unwrap();
        let url = scratch_database();
        let (from, to) = (Sqlite::open(&path).unwrap(), Postgres::open(&url).unwrap());
        let first = super::copy(&from, &to, &|_, _, _| {}).unwrap();
        let again = super::copy(&from, &to, &|_, _, _| {}).unwrap();
        assert!(first.iter().find(|c| c.table == "tracks").is_some_and(|c| c.rows == 30 && c.added == 30));
        assert!(again.iter().all(|c| c.added == 0), "a second run adds nothing: {again:?}");
        let pg = super::super::open_postgres(&url).unwrap();
        let (user, _) = pg.user_by_name("ALICE").unwrap().unwrap();
        assert_eq!((user.id, user.is_admin), (a, true));
        assert_eq!(pg.list_tracks(a, Page::new(None, None)).unwrap(), lite.list_tracks(a, Page::new(None, None)).unwrap());
        assert_eq!(pg.list_albums(a, AlbumSort::Title, Page::new(None, None)).unwrap().0.len(), 1);
        assert_eq!(pg.playlist(a, p.id).unwrap().unwrap().1.len(), 5);
        assert_eq!(pg.favourites(a).unwrap().len(), 1);
        assert_eq!(pg.search(a, "song 7", 5).unwrap().tracks[0].tags.title, "Song 7");
        assert_eq!(pg.server_key("signing", &[9; 32]).unwrap(), [7; 32], "the node's key came along");
        // New rows get ids past the copied ones.
        let b = pg.create_user("bob", "hash", false).unwrap().id;
        assert!(b.0 > a.0);
    }
}
