//! Test support for the catalog: every catalog test runs on both engines, SQLite in a
//! temporary file and PostgreSQL in a fresh database of the cluster `TONEARM_TEST_POSTGRES`
//! names (`scripts/test.sh` starts one), and the files those tests add.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::domain::DurationSource;

/// Runs `f` on a new, empty catalog of each engine.
pub(crate) fn each_engine(f: impl Fn(&SqlCatalog)) {
    let dir = tempfile::tempdir().unwrap();
    f(&open_sqlite(dir.path().join("t.db")).unwrap());
    f(&scratch_postgres());
}

/// A catalog in a new database of the test cluster.
pub(crate) fn scratch_postgres() -> SqlCatalog {
    open_postgres(&scratch_database()).unwrap()
}

/// The URL of a new, empty database in the test cluster.
pub(crate) fn scratch_database() -> String {
    let cluster = std::env::var("TONEARM_TEST_POSTGRES")
        .expect("TONEARM_TEST_POSTGRES names the PostgreSQL cluster the catalog tests use (scripts/test.sh starts one and sets it)");
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = format!("unit_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    let mut admin = ::postgres::Client::connect(&cluster, ::postgres::NoTls).unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    let base = cluster.rsplit_once('/').map_or(cluster.as_str(), |(b, _)| b);
    format!("{base}/{name}")
}

pub(crate) fn track(user: UserId, i: u32, title: &str) -> NewTrack {
    let props = AudioProps {
        container: "flac".into(),
        codec: "flac".into(),
        sample_rate: 44100,
        channels: 2,
        bits_per_sample: Some(16),
        frames: 44100,
        priming: 0,
        duration_source: DurationSource::Container,
        bitrate: 1000,
        damage: None,
    };
    NewTrack {
        user,
        media: NewMedia::whole(ContentHash::of(&[user.0.to_le_bytes().as_slice(), &i.to_le_bytes()].concat()), 10, props),
        tags: Tags { title: Some(title.into()), artist: Some("Björk".into()), album: Some("Homogenic".into()), ..Tags::default() },
        cover: None,
        file_name: format!("{i}.flac"),
        source: None,
        folder: None,
    }
}

/// A file of `folder` (`None`: an upload) by `artist` on "Homogenic", with or without
/// the album-artist tag (a WAV has none: RIFF INFO has no such field).
pub(crate) fn file(user: UserId, i: u32, title: &str, artist: &str, album_artist: Option<&str>, folder: Option<&str>) -> NewTrack {
    let mut t = track(user, i, title);
    t.tags.artist = Some(artist.into());
    t.tags.album_artist = album_artist.map(Into::into);
    t.folder = folder.map(Into::into);
    t.file_name = format!("{i:02} {title}.{}", if album_artist.is_some() { "flac" } else { "wav" });
    t
}
