//! `tonearm import`: walks folders, probes and stages files on a rayon pool, and commits
//! them in batches from one writer, with a progress bar and a summary.
//!
//! Re-importing is cheap: a file whose path, size and mtime the catalog already knows is
//! counted as already present without being read.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use super::{Ingest, IngestError, Prepared};
use crate::catalog::{AddOutcome, SourceFile};
use crate::domain::UserId;

/// Extensions that are part of a music folder but never audio: counted, not rejected.
const NOT_AUDIO: &[&str] = &[
    "jpg", "jpeg", "png", "gif", "webp", "bmp", "tif", "tiff", "txt", "log", "cue", "m3u", "m3u8", "pls", "nfo", "pdf", "db", "ini", "sfv", "md5", "ffp",
    "accurip", "url", "lrc", "xml", "json", "html",
];

pub struct ImportOptions {
    pub threads: usize,
    pub batch_size: usize,
    pub progress: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub path: PathBuf,
    pub code: &'static str,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct ImportReport {
    pub imported: usize,
    pub already_present: usize,
    /// Side-car images, logs, cue sheets and the like.
    pub skipped: usize,
    pub rejected: Vec<Rejected>,
    /// Imported but damaged (truncated, corrupt frames): path and what is wrong.
    pub flagged: Vec<(PathBuf, String)>,
    pub bytes: u64,
    pub elapsed: Duration,
}

struct Candidate {
    path: PathBuf,
    size: u64,
    mtime: i64,
}

/// Imports every file under `roots` into `user`'s library.
pub fn import(ingest: &Ingest, user: UserId, roots: &[PathBuf], opts: &ImportOptions) -> Result<ImportReport, IngestError> {
    let started = Instant::now();
    let mut report = ImportReport::default();
    let known = ingest.catalog().known_sources(user)?;
    let mut todo = Vec::new();
    for root in roots {
        let root = std::path::absolute(root).map_err(|source| IngestError::Read { path: root.clone(), source })?;
        for entry in walkdir::WalkDir::new(&root).follow_links(true).sort_by_file_name() {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    let path = e.path().map(Path::to_path_buf).unwrap_or_else(|| root.clone());
                    report.rejected.push(Rejected { path, code: "unreadable", reason: e.to_string() });
                    continue;
                }
            };
            if !entry.file_type().is_file() {
                continue;
            }
            let path = entry.into_path();
            if skip_quietly(&path) {
                report.skipped += 1;
                continue;
            }
            let meta = match std::fs::metadata(&path) {
                Ok(m) => m,
                Err(e) => {
                    report.rejected.push(Rejected { path, code: "unreadable", reason: e.to_string() });
                    continue;
                }
            };
            let mtime = meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_secs() as i64).unwrap_or(0);
            let key = path.to_string_lossy();
            if known.get(key.as_ref()) == Some(&(meta.len(), mtime)) {
                report.already_present += 1;
                continue;
            }
            todo.push(Candidate { path, size: meta.len(), mtime });
        }
    }

    let bar = if opts.progress { ProgressBar::new(todo.len() as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} files ({per_sec}, eta {eta}) {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads.max(1))
        .thread_name(|i| format!("import-{i}"))
        // Parsers of untrusted files recurse (bounded by media::guard); room to spare.
        .stack_size(crate::media::PARSER_STACK)
        .build()
        .map_err(|e| IngestError::Read { path: PathBuf::new(), source: std::io::Error::other(e) })?;
    let (tx, rx) = mpsc::sync_channel::<(usize, Result<Prepared, IngestError>)>(opts.batch_size * 2);
    let batch_size = opts.batch_size.max(1);
    let todo_ref = &todo;
    let mut result = Ok(());
    std::thread::scope(|scope| {
        scope.spawn(move || {
            pool.install(|| {
                todo_ref.par_iter().enumerate().for_each_with(tx, |tx, (i, c)| {
                    let name = c.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    let folder = c.path.parent().map(|p| p.to_string_lossy().into_owned());
                    let source = SourceFile { path: c.path.to_string_lossy().into_owned(), size: c.size, mtime: c.mtime };
                    let r = ingest.prepare(&c.path, user, &name, Some(source), folder);
                    let _ = tx.send((i, r));
                });
            });
        });
        let mut batch: Vec<(usize, Prepared)> = Vec::with_capacity(batch_size);
        for (i, r) in rx.iter() {
            bar.inc(1);
            match r {
                Ok(p) => batch.push((i, p)),
                Err(e) if e.is_rejection() => report.rejected.push(Rejected { path: todo_ref[i].path.clone(), code: e.code(), reason: e.to_string() }),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
            if batch.len() >= batch_size
                && let Err(e) = commit(ingest, std::mem::take(&mut batch), todo_ref, &mut report)
            {
                result = Err(e);
                break;
            }
        }
        // On an early exit, drain so the workers finish (their staged files are discarded).
        for _ in rx.iter() {}
        if result.is_ok() && !batch.is_empty() {
            result = commit(ingest, batch, todo_ref, &mut report);
        }
    });
    bar.finish_and_clear();
    result?;
    report.elapsed = started.elapsed();
    Ok(report)
}

fn commit(ingest: &Ingest, batch: Vec<(usize, Prepared)>, todo: &[Candidate], report: &mut ImportReport) -> Result<(), IngestError> {
    let idx: Vec<usize> = batch.iter().map(|(i, _)| *i).collect();
    let damage: Vec<Option<String>> = batch.iter().map(|(_, p)| p.track.media.props.damage.clone()).collect();
    let outcomes = ingest.commit(batch.into_iter().map(|(_, p)| p).collect())?;
    for ((i, out), dmg) in idx.into_iter().zip(outcomes).zip(damage) {
        match out {
            AddOutcome::Added(_) => {
                report.imported += 1;
                report.bytes += todo[i].size;
                if let Some(d) = dmg {
                    report.flagged.push((todo[i].path.clone(), d));
                }
            }
            AddOutcome::AlreadyPresent(_) => report.already_present += 1,
        }
    }
    Ok(())
}

fn skip_quietly(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    if name.starts_with("._") || name == ".DS_Store" || name.eq_ignore_ascii_case("thumbs.db") || name.eq_ignore_ascii_case("desktop.ini") {
        return true;
    }
    let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_default();
    NOT_AUDIO.contains(&ext.as_str())
}
