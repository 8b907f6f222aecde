//! Uploads over HTTP. `POST /api/v1/tracks?filename=NAME` takes the file as the request
//! body (for curl: `--data-binary @song.flac`), streams it to a private temporary directory
//! within the size limit, and hands it to the same ingest path as `tonearm import`. The
//! answer is `201` with the new track (`200` when the user already had these exact bytes),
//! or a precise 4xx; a rejected upload leaves nothing behind.
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
use tokio::io::AsyncWriteExt;

use super::auth::AuthUser;
use super::dto::TrackDto;
use super::{ApiError, ApiResult, AppState, Query, blocking};
use crate::catalog::AddOutcome;

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
fn clean_name(raw: &str) -> Option<String> {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let name: String = last.chars().filter(|c| !c.is_control()).collect::<String>().trim().to_string();
    (!name.is_empty() && name != "." && name != ".." && name.len() <= 255).then_some(name)
}

pub async fn upload_one(State(s): State<AppState>, AuthUser(u): AuthUser, Query(q): Query<UploadQuery>, body: Body) -> ApiResult<(StatusCode, Json<TrackDto>)> {
    let name = q
        .filename
        .as_deref()
        .and_then(clean_name)
        .ok_or_else(|| ApiError::bad_request("bad_filename", "give the file's name as ?filename=NAME (it selects the format hint)"))?;
    let mut token = [0u8; 12];
    rand::fill(&mut token);
    let dir: PathBuf = s.upload_dir.join(token.iter().map(|b| format!("{b:02x}")).collect::<String>());
    tokio::fs::create_dir_all(&dir).await.map_err(|e| ApiError::Internal(format!("creating upload directory: {e}")))?;
    let scratch = Scratch(dir);
    let path = scratch.0.join("upload");
    let mut file = tokio::fs::File::create(&path).await.map_err(|e| ApiError::Internal(format!("creating upload file: {e}")))?;
    let mut stream = body.into_data_stream();
    let mut len = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request("upload_interrupted", format!("the upload did not complete: {e}")))?;
        len += chunk.len() as u64;
        if len > s.max_upload_bytes {
            return Err(ApiError::TooLarge(s.max_upload_bytes));
        }
        file.write_all(&chunk).await.map_err(|e| ApiError::Internal(format!("writing upload: {e}")))?;
    }
    file.flush().await.map_err(|e| ApiError::Internal(e.to_string()))?;
    drop(file);
    if let Some(quota) = u.quota_bytes {
        let catalog = s.catalog.clone();
        let uid = u.id;
        let used = blocking(move || Ok(catalog.user_bytes(uid)?)).await?;
        if used + len > quota {
            return Err(ApiError::QuotaExceeded(quota));
        }
    }
    let ingest = s.ingest.clone();
    let catalog = s.catalog.clone();
    let (status, track) = blocking(move || {
        let _scratch = scratch;
        let prepared = ingest.prepare(&path, u.id, &name, None, None)?;
        let outcome = ingest.commit(vec![prepared])?;
        let (status, id) = match outcome.first() {
            Some(AddOutcome::Added(id)) => (StatusCode::CREATED, *id),
            Some(AddOutcome::AlreadyPresent(id)) => (StatusCode::OK, *id),
            None => return Err(ApiError::Internal("ingest returned nothing".into())),
        };
        let t = catalog.track(u.id, id)?.ok_or_else(|| ApiError::Internal("uploaded track vanished".into()))?;
        Ok((status, t))
    })
    .await?;
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
