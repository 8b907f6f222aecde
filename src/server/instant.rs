//! Instant uploads: a client that holds a file the server already stores (for anyone) adds
//! it to its library without sending it, after proving it has the bytes.
//!
//! 1. `POST /api/v1/uploads/instant {sha256, size, filename}` always answers `200` with a
//!    challenge: a few byte ranges chosen at random by the server. The answer is the same
//!    whether or not the server holds the file, so the hash alone reveals nothing.
//! 2. `POST /api/v1/uploads/instant/{challenge} {proofs: [hex SHA-256 of each range]}` adds
//!    the track (`201`, or `200` if the user already had it) when every proof matches the
//!    stored bytes; otherwise `422 proof_failed` (the same for a wrong proof and for a file
//!    the server does not have): upload the file instead. A challenge answers once.

use std::io::Read;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::auth::AuthUser;
use super::dto::TrackDto;
use super::upload::{add_stored, clean_name};
use super::{Path, SmallBody, ApiError, ApiResult, AppState, blocking, json_body};
use crate::catalog::NewMedia;
use crate::domain::{UserId, now_unix};
use crate::store::open_parts_range;

/// Ranges per challenge, and the most bytes of each.
const RANGES: usize = 4;
const RANGE_MAX: u64 = 64 * 1024;
const TTL_SECS: i64 = 300;
/// Open challenges per user.
const MAX_OPEN: usize = 32;

pub struct Challenge {
    user: UserId,
    media: Option<NewMedia>,
    filename: String,
    ranges: Vec<(u64, u64)>,
    expires_at: i64,
}

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

fn hex32(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn random_below(n: u64) -> u64 {
    let mut b = [0u8; 8];
    rand::fill(&mut b);
    if n == 0 { 0 } else { u64::from_le_bytes(b) % n }
}

/// `POST /api/v1/uploads/instant`
pub async fn ask(State(s): State<AppState>, AuthUser(u): AuthUser, SmallBody(body): SmallBody) -> ApiResult<Json<Value>> {
    let a: Ask = json_body(&body, "{\"sha256\": hex, \"size\": bytes, \"filename\": name}")?;
    let sha = hex32(&a.sha256).ok_or_else(|| ApiError::bad_request("bad_hash", "sha256 must be 64 hex digits"))?;
    let filename = clean_name(&a.filename).ok_or_else(|| ApiError::bad_request("bad_filename", "filename is empty or not a name"))?;
    if a.size == 0 || a.size > s.max_upload_bytes {
        return Err(if a.size == 0 { ApiError::bad_request("bad_size", "size must be positive") } else { ApiError::TooLarge(s.max_upload_bytes) });
    }
    let now = now_unix();
    s.challenges.retain(|_, c| c.expires_at > now);
    if s.challenges.iter().filter(|c| c.user == u.id).count() >= MAX_OPEN {
        return Err(ApiError::TooMany("too_many_challenges", format!("at most {MAX_OPEN} open challenges per user")));
    }
    let catalog = s.catalog.clone();
    let size = a.size;
    let media = blocking(move || Ok(catalog.media_by_sha256(&sha, size)?)).await?;
    let len = a.size.min(RANGE_MAX);
    let ranges: Vec<(u64, u64)> = (0..RANGES).map(|_| (random_below(a.size - len + 1), len)).collect();
    let mut raw = [0u8; 16];
    rand::fill(&mut raw);
    let id: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let answer = json!({
        "challenge": id,
        "algorithm": "sha256",
        "ranges": ranges.iter().map(|(o, l)| json!({"offset": o, "length": l})).collect::<Vec<_>>(),
        "expires_in": TTL_SECS,
    });
    s.challenges.insert(id, Challenge { user: u.id, media, filename, ranges, expires_at: now + TTL_SECS });
    Ok(Json(answer))
}

/// `POST /api/v1/uploads/instant/{challenge}`
pub async fn prove(State(s): State<AppState>, AuthUser(u): AuthUser, Path(id): Path<String>, SmallBody(body): SmallBody) -> ApiResult<(StatusCode, Json<TrackDto>)> {
    let p: Proof = json_body(&body, "{\"proofs\": [hex SHA-256 of each range]}")?;
    // Single use: taken out whatever the outcome. Someone else's is as good as missing.
    let c = match s.challenges.remove_if(&id, |_, c| c.user == u.id) {
        Some((_, c)) => c,
        None => return Err(ApiError::not_found("challenge")),
    };
    if c.expires_at <= now_unix() {
        return Err(ApiError::Status(StatusCode::GONE, "challenge_expired", "the challenge expired; ask for a new one".into()));
    }
    let claimed: Vec<Option<[u8; 32]>> = p.proofs.iter().map(|h| hex32(h)).collect();
    let store = s.store.clone();
    let (ranges, parts) = (c.ranges.clone(), c.media.as_ref().map(|m| m.parts.clone()));
    let actual: Vec<[u8; 32]> = blocking(move || {
        ranges
            .iter()
            .map(|&(off, len)| {
                let mut h = Sha256::new();
                match &parts {
                    Some(parts) => {
                        let mut r = open_parts_range(store.as_ref(), parts, off..off + len)?;
                        let mut buf = vec![0u8; len as usize];
                        r.read_exact(&mut buf).map_err(|e| ApiError::Internal(e.to_string()))?;
                        h.update(&buf);
                    }
                    // No such file: hash as much, so both answers take about as long.
                    None => h.update(vec![0u8; len as usize]),
                }
                Ok(h.finalize().into())
            })
            .collect()
    })
    .await?;
    let proven = c.media.is_some() && claimed.len() == actual.len() && claimed.iter().zip(&actual).all(|(c, a)| c.as_ref() == Some(a));
    let Some(media) = c.media.filter(|_| proven) else {
        return Err(ApiError::Unprocessable("proof_failed", "possession not proven: upload the file".into()));
    };
    let (status, track) = add_stored(&s, &u, media, c.filename).await?;
    Ok((status, Json(TrackDto::from(&track))))
}

#[cfg(test)]
mod tests {
    #[test]
    fn hashes_are_64_hex_digits() {
        assert_eq!(super::hex32(&"ab".repeat(32)), Some([0xab; 32]));
        assert_eq!(super::hex32("abc"), None);
        assert_eq!(super::hex32(&"zz".repeat(32)), None);
        assert_eq!(super::hex32(&"é".repeat(32)), None);
    }
}
