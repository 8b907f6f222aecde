//! Uploads over HTTP, the plumbing shared by every way a file arrives:
//!
//! - `POST /api/v1/tracks?filename=NAME` takes the file as the request body (for curl:
//!   `--data-binary @song.flac`), streams it to a private temporary directory within the
//!   size limit, and hands it to the same ingest path as `tonearm import`;
//! - resumable uploads (tus, [`super::tus`]) and instant uploads ([`super::instant`]) end in
//!   [`ingest_file`] / [`add_stored`] too.
//!
//! The answer is `201` with the new track (`200` when the user already had these exact
//! bytes), or a precise 4xx; a rejected upload leaves nothing behind. Each user may have
//! `uploads.max_concurrent_per_user` bodies in flight ([`InFlight`]).
//!
//! The file name is data: only its last component is kept, as the track's `file_name` and
//! the container hint; it never names anything on disk.

use std::path::PathBuf;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use futures_util::StreamExt;
use serde::Deserialize;

use super::auth::AuthUser;
use super::dto::TrackDto;
use super::{ApiError, ApiResult, AppState, Query, blocking};
use crate::catalog::{AddOutcome, NewMedia, Track, User};
use crate::domain::UserId;

#[derive(Deserialize)]
pub struct UploadQuery {
    filename: Option<String>,
}

/// A directory that is removed with everything in it when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The last path component of a client-supplied name, without control characters.
pub(super) fn clean_name(raw: &str) -> Option<String> {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let name: String = last.chars().filter(|c| !c.is_control()).collect::<String>().trim().to_string();
    (!name.is_empty() && name != "." && name != ".." && name.len() <= 255).then_some(name)
}

/// One upload body in flight for a user; the count drops with it.
pub(super) struct InFlight {
    map: std::sync::Arc<dashmap::DashMap<UserId, usize>>,
    user: UserId,
}

impl InFlight {
    /// Counts an upload in, or refuses with 429 `too_many_uploads` past the per-user limit.
    pub(super) fn begin(s: &AppState, user: UserId) -> ApiResult<InFlight> {
        let mut n = s.uploads_in_flight.entry(user).or_insert(0);
        if *n >= s.upload_limits.max_concurrent_per_user {
            return Err(ApiError::TooMany(
                "too_many_uploads",
                format!("at most {} uploads at once per user; retry when one has finished", s.upload_limits.max_concurrent_per_user),
            ));
        }
        *n += 1;
        Ok(InFlight { map: s.uploads_in_flight.clone(), user })
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.map.remove_if_mut(&self.user, |_, n| {
            *n = n.saturating_sub(1);
            *n == 0
        });
    }
}

/// Sees every byte [`write_body`] writes (a checksum), on the writer thread.
pub(super) trait ChunkHash: Send + 'static {
    fn update(&mut self, bytes: &[u8]);
}

impl ChunkHash for () {
    fn update(&mut self, _: &[u8]) {}
}

/// Where [`write_body`] puts the bytes.
pub(super) struct Sink {
    pub path: PathBuf,
    /// Append to an existing file (tus) instead of creating it.
    pub append: bool,
}

/// Streams a request body into a file, at most `limit` bytes, feeding every byte to `hash`.
/// The file is written (and `hash` runs) on a blocking thread fed through a bounded channel,
/// so the executor only moves buffers and a slow disk slows the sender (back-pressure).
/// Returns the bytes written, the outcome, and `hash` back; a body longer than `limit` is
/// `TooLarge(max_reported)` after writing nothing past the limit.
pub(super) async fn write_body<H: ChunkHash>(body: Body, sink: Sink, limit: u64, max_reported: u64, hash: H) -> (u64, ApiResult<()>, Option<H>) {
    use std::io::Write;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(32);
    let writer = tokio::task::spawn_blocking(move || -> (std::io::Result<()>, H) {
        let mut hash = hash;
        let file = if sink.append { std::fs::OpenOptions::new().append(true).open(&sink.path) } else { std::fs::File::create(&sink.path) };
        let result = file.and_then(|f| {
            let mut out = std::io::BufWriter::with_capacity(1 << 20, f);
            while let Some(chunk) = rx.blocking_recv() {
                out.write_all(&chunk)?;
                hash.update(&chunk);
            }
            out.flush()
        });
        (result, hash)
    });
    let mut stream = body.into_data_stream();
    let mut len = 0u64;
    let mut outcome = Ok(());
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                outcome = Err(ApiError::bad_request("upload_interrupted", format!("the upload did not complete: {e}")));
                break;
            }
        };
        if len + chunk.len() as u64 > limit {
            outcome = Err(ApiError::TooLarge(max_reported));
            break;
        }
        len += chunk.len() as u64;
        if tx.send(chunk).await.is_err() {
            break; // the writer failed; its error is reported below
        }
    }
    drop(tx);
    match writer.await {
        Ok((Ok(()), hash)) => (len, outcome, Some(hash)),
        Ok((Err(e), _)) => (len, Err(ApiError::Internal(format!("writing upload: {e}"))), None),
        Err(e) => (len, Err(ApiError::from(e)), None),
    }
}

/// Reads and discards up to `max` bytes of a body that an early error leaves unread, so the
/// client (still sending) receives the error instead of a reset connection.
pub(super) async fn drain(body: Body, max: u64) {
    let mut stream = body.into_data_stream();
    let mut seen = 0u64;
    let read = async {
        while let Some(Ok(chunk)) = stream.next().await {
            seen += chunk.len() as u64;
            if seen > max {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), read).await;
}

/// How much of an unread body is drained before an early error answer.
pub(super) const DRAIN_MAX: u64 = 64 << 20;

/// Refuses an upload of `len` more bytes that would take `u` past their quota.
pub(super) async fn check_quota(s: &AppState, u: &User, len: u64) -> ApiResult<()> {
    if let Some(quota) = u.quota_bytes {
        let catalog = s.catalog.clone();
        let uid = u.id;
        let used = blocking(move || Ok(catalog.user_bytes(uid)?)).await?;
        if used + len > quota {
            return Err(ApiError::QuotaExceeded(quota));
        }
    }
    Ok(())
}

/// Ingests the file at `path` into `u`'s library, as `tonearm import` would.
pub(super) async fn ingest_file(s: &AppState, u: &User, path: PathBuf, name: String) -> ApiResult<(StatusCode, Track)> {
    let len = tokio::fs::metadata(&path).await.map(|m| m.len()).unwrap_or(0);
    check_quota(s, u, len).await?;
    let ingest = s.ingest.clone();
    let uid = u.id;
    let track = blocking(move || {
        let prepared = ingest.prepare(&path, uid, &name, None, None)?;
        Ok(ingest.commit(vec![prepared])?)
    })
    .await?;
    outcome_track(s, uid, track.first().copied()).await
}

/// Adds a file the store already holds (an instant upload) to `u`'s library.
pub(super) async fn add_stored(s: &AppState, u: &User, media: NewMedia, name: String) -> ApiResult<(StatusCode, Track)> {
    check_quota(s, u, media.size).await?;
    let ingest = s.ingest.clone();
    let uid = u.id;
    let outcome = blocking(move || {
        let prepared = ingest.prepare_stored(media, uid, &name)?;
        Ok(ingest.commit(vec![prepared])?)
    })
    .await?;
    outcome_track(s, uid, outcome.first().copied()).await
}

async fn outcome_track(s: &AppState, user: UserId, outcome: Option<AddOutcome>) -> ApiResult<(StatusCode, Track)> {
    let (status, id) = match outcome {
        Some(AddOutcome::Added(id)) => (StatusCode::CREATED, id),
        Some(AddOutcome::AlreadyPresent(id)) => (StatusCode::OK, id),
        None => return Err(ApiError::Internal("ingest returned nothing".into())),
    };
    let catalog = s.catalog.clone();
    // Deleted by a request that raced this one: the upload did land, then went.
    let t = blocking(move || Ok(catalog.track(user, id)?))
        .await?
        .ok_or_else(|| ApiError::Conflict("the track was deleted while this upload finished; upload it again".into()))?;
    Ok((status, t))
}

/// A private scratch directory under the upload directory.
async fn scratch_dir(s: &AppState) -> ApiResult<Scratch> {
    let mut token = [0u8; 12];
    rand::fill(&mut token);
    let dir: PathBuf = s.upload_dir.join(token.iter().map(|b| format!("{b:02x}")).collect::<String>());
    tokio::fs::create_dir_all(&dir).await.map_err(|e| ApiError::Internal(format!("creating upload directory: {e}")))?;
    Ok(Scratch(dir))
}

pub async fn upload_one(State(s): State<AppState>, AuthUser(u): AuthUser, Query(q): Query<UploadQuery>, body: Body) -> ApiResult<(StatusCode, Json<TrackDto>)> {
    let checked = q
        .filename
        .as_deref()
        .and_then(clean_name)
        .ok_or_else(|| ApiError::bad_request("bad_filename", "give the file's name as ?filename=NAME (it selects the format hint)"))
        .and_then(|name| Ok((name, InFlight::begin(&s, u.id)?)));
    let (name, _in_flight) = match checked {
        Ok(ok) => ok,
        Err(e) => {
            drain(body, DRAIN_MAX).await;
            return Err(e);
        }
    };
    let scratch = scratch_dir(&s).await?;
    let path = scratch.0.join("upload");
    let sink = Sink { path: path.clone(), append: false };
    let t0 = std::time::Instant::now();
    let (len, written, _) = write_body(body, sink, s.max_upload_bytes, s.max_upload_bytes, ()).await;
    written?;
    tracing::debug!(bytes = len, took = ?t0.elapsed(), "upload received");
    let (status, track) = ingest_file(&s, &u, path.clone(), name).await?;
    drop(scratch);
    Ok((status, Json(TrackDto::from(&track))))
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_data_not_paths() {
        use super::clean_name;
        assert_eq!(clean_name("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(clean_name("C:\\music\\a.flac").as_deref(), Some("a.flac"));
        assert_eq!(clean_name("..").as_deref(), None);
        assert_eq!(clean_name("dir/").as_deref(), None);
        assert_eq!(clean_name("Björk – Jóga.flac").as_deref(), Some("Björk – Jóga.flac"));
    }
}
