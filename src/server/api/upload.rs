//! `POST /api/v1/tracks?filename=NAME`: a whole file as the request body (for curl:
//! `--data-binary @song.flac`), through the `Uploads` service — the same ingest as
//! `tonearm import`. Answers `201` with the new track (`200` when the user already had
//! these exact bytes), or a precise 4xx; a rejected upload leaves nothing behind.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

use super::auth::AuthUser;
use super::dto::TrackDto;
use crate::server::{ApiResult, Query};
use crate::service::Uploads;
use crate::service::uploads::Added;

#[derive(Deserialize)]
pub struct UploadQuery {
    filename: Option<String>,
}

/// `201` for a track new to the library, `200` for one it had.
pub fn added(a: &Added) -> (StatusCode, Json<TrackDto>) {
    (if a.created { StatusCode::CREATED } else { StatusCode::OK }, Json(TrackDto::from(&a.track)))
}

pub async fn upload_one(
    State(uploads): State<Uploads>,
    AuthUser(u): AuthUser,
    Query(q): Query<UploadQuery>,
    body: Body,
) -> ApiResult<(StatusCode, Json<TrackDto>)> {
    let a = uploads.upload(&u, q.filename.as_deref(), body.into_data_stream()).await?;
    Ok(added(&a))
}
