//! Instant uploads over HTTP: a client that holds a file the server already stores (for
//! anyone) adds it to its library without sending it, after proving it has the bytes.
//!
//! 1. `POST /api/v1/uploads/instant {sha256, size, filename}` always answers `200` with a
//!    challenge: a few byte ranges chosen at random by the server. The answer is the same
//!    whether or not the server holds the file, so the hash alone reveals nothing.
//! 2. `POST /api/v1/uploads/instant/{challenge} {proofs: [hex SHA-256 of each range]}` adds
//!    the track (`201`, or `200` if the user already had it) when every proof matches the
//!    stored bytes; otherwise `422 proof_failed` (the same for a wrong proof and for a file
//!    the server does not have): upload the file instead. A challenge answers once.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::AuthUser;
use super::dto::TrackDto;
use crate::server::{ApiResult, Path, SmallBody, blocking, json_body};
use crate::service::Uploads;

#[derive(Deserialize)]
struct Ask {
    sha256: String,
    size: u64,
    filename: String,
}

#[derive(Deserialize)]
struct Proof {
    proofs: Vec<String>,
}

/// `POST /api/v1/uploads/instant`
pub async fn ask(State(uploads): State<Uploads>, AuthUser(u): AuthUser, SmallBody(body): SmallBody) -> ApiResult<Json<Value>> {
    let a: Ask = json_body(&body, "{\"sha256\": hex, \"size\": bytes, \"filename\": name}")?;
    let c = blocking(move || uploads.ask(&u, &a.sha256, a.size, &a.filename)).await?;
    Ok(Json(json!({
        "challenge": c.id,
        "algorithm": "sha256",
        "ranges": c.ranges.iter().map(|(o, l)| json!({"offset": o, "length": l})).collect::<Vec<_>>(),
        "expires_in": c.expires_in,
    })))
}

/// `POST /api/v1/uploads/instant/{challenge}`
pub async fn prove(
    State(uploads): State<Uploads>,
    AuthUser(u): AuthUser,
    Path(id): Path<String>,
    SmallBody(body): SmallBody,
) -> ApiResult<(StatusCode, Json<TrackDto>)> {
    let p: Proof = json_body(&body, "{\"proofs\": [hex SHA-256 of each range]}")?;
    let a = blocking(move || uploads.prove(&u, &id, &p.proofs)).await?;
    Ok(super::upload::added(&a))
}
