//! Criterion benches for the foundation's hot paths, in process:
//! - catalog queries on a 20,000-track library (search, album list, album detail), on
//!   SQLite and, when `TONEARM_BENCH_POSTGRES` names a cluster (`scripts/bench-scaleout.sh`
//!   starts one), on PostgreSQL side by side;
//! - probing a fixture of each format (what import pays per file before hashing).
//!
//! `cargo bench --bench library`. The side-by-side figures against `cp` and the HTTP
//! latencies come from `scripts/bench-import.sh`.

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use tonearm::catalog::prelude::*;
use tonearm::catalog::{AlbumSort, NewMedia, NewTrack, Page, SqlCatalog};
use tonearm::domain::{AudioProps, ContentHash, DurationSource, Tags};
use tonearm::media::probe;

/// A fresh database in the cluster `TONEARM_BENCH_POSTGRES` names, if it is set.
fn postgres_database() -> Option<String> {
    let cluster = std::env::var("TONEARM_BENCH_POSTGRES").ok()?;
    let name = format!("bench_{}", std::process::id());
    let mut admin = postgres::Client::connect(&cluster, postgres::NoTls).unwrap();
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    Some(format!("{}/{name}", cluster.rsplit_once('/').map_or(cluster.as_str(), |(b, _)| b)))
}

fn library(n: usize, postgres: Option<&str>) -> (tempfile::TempDir, SqlCatalog, tonearm::domain::UserId) {
    let dir = tempfile::tempdir().unwrap();
    let cat = match postgres {
        Some(url) => tonearm::catalog::open_postgres(url).unwrap(),
        None => tonearm::catalog::open_sqlite(dir.path().join("bench.db")).unwrap(),
    };
    let user = cat.create_user("bench", "x", true).unwrap().id;
    let props = AudioProps {
        container: "flac".into(),
        codec: "flac".into(),
        sample_rate: 44100,
        channels: 2,
        bits_per_sample: Some(16),
        frames: 44100 * 200,
        priming: 0,
        duration_source: DurationSource::Container,
        bitrate: 900_000,
        damage: None,
    };
    let batch: Vec<NewTrack> = (0..n)
        .map(|i| {
            let artist = if i % 50 == 7 { format!("Björk {}", i / 50) } else { format!("Artist {}", i / 50) };
            NewTrack {
                user,
                media: NewMedia::whole(ContentHash::of(&i.to_le_bytes()), 1 << 20, props.clone()),
                tags: Tags {
                    title: Some(format!("Track {i} Sigur Rós")),
                    artist: Some(artist.clone()),
                    album_artist: Some(artist),
                    album: Some(format!("Album {}", i / 10)),
                    track_number: Some((i % 10) as u32 + 1),
                    year: Some(1970 + (i / 10 % 50) as i32),
                    ..Tags::default()
                },
                cover: None,
                file_name: format!("{i}.flac"),
                source: None,
                folder: None,
            }
        })
        .collect();
    for chunk in batch.chunks(1000) {
        cat.add_tracks(chunk).unwrap();
    }
    (dir, cat, user)
}

fn catalog(c: &mut Criterion) {
    queries(c, "catalog_20k", None);
    if let Some(url) = postgres_database() {
        queries(c, "catalog_20k_postgres", Some(&url));
    }
}

fn queries(c: &mut Criterion, group: &str, postgres: Option<&str>) {
    let (_dir, cat, user) = library(20_000, postgres);
    let album = cat.list_albums(user, AlbumSort::Artist, Page::new(Some(1), None)).unwrap().0[0].id;
    let mut g = c.benchmark_group(group);
    g.bench_function("search_bjork", |b| b.iter(|| cat.search(user, "bjork", 20).unwrap()));
    g.bench_function("search_prefix_sig", |b| b.iter(|| cat.search(user, "sig", 20).unwrap()));
    g.bench_function("albums_page_50", |b| b.iter(|| cat.list_albums(user, AlbumSort::Artist, Page::new(Some(50), Some(100))).unwrap()));
    g.bench_function("album_detail", |b| b.iter(|| cat.album(user, album).unwrap()));
    g.bench_function("tracks_page_100", |b| b.iter(|| cat.list_tracks(user, Page::new(Some(100), None)).unwrap()));
    g.finish();
}

fn probing(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/library");
    let mut g = c.benchmark_group("probe");
    for rel in ["Björk - Homogenic/01 Hunter.flac", "Sigur Rós - Ágætis byrjun/02 Starálfur.mp3", "Mix Tape/01 Side A.m4a", "Misc/opus.opus"] {
        let p = root.join(rel);
        g.bench_function(rel.rsplit('/').next().unwrap_or(rel), |b| b.iter(|| probe::probe_path(&p).unwrap()));
    }
    g.finish();
}

criterion_group!(benches, catalog, probing);
criterion_main!(benches);
