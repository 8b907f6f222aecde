//! Authentication at the HTTP edge: the bearer-token extractor every `/api` route except
//! login uses, and the login/logout/me handlers.

use axum::Json;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};

use super::dto::UserDto;
use super::{SmallBody, ApiError, ApiResult, AppState, blocking, json_body};
use crate::catalog::User;

/// The signed-in user, from `Authorization: Bearer <token>`.
pub struct AuthUser(pub User);

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        bearer_user(state, &parts.headers, false)
            .await?
            .map(AuthUser)
            .ok_or_else(|| ApiError::Unauthorized("unauthorized", "missing bearer token".into()))
    }
}

/// The user of the request's bearer token: `None` without an `Authorization` header, an
/// error for a token that is invalid or expired. `recent` accepts a session verified in the
/// last few seconds without asking the catalog (playback routes, which players hit several
/// times per second; a revocation reaches them within `SESSION_CACHE_SECS`).
pub(super) async fn bearer_user(state: &AppState, headers: &HeaderMap, recent: bool) -> ApiResult<Option<User>> {
    let Some(token) = bearer(headers).map(str::to_string) else { return Ok(None) };
    if recent
        && let Some(u) = state.accounts.recently_authenticated(&token) {
            return Ok(Some(u));
        }
    let accounts = state.accounts.clone();
    let user = blocking(move || Ok(accounts.authenticate(&token)?)).await?;
    user.map(Some).ok_or_else(|| ApiError::Unauthorized("invalid_token", "token is invalid or expired".into()))
}

#[derive(Deserialize)]
struct LoginBody {
    username: String,
    password: String,
}

/// `POST /api/v1/auth/login` with `{"username", "password"}` (any content type, since
/// `curl -d` sends a form type). Answers `{"token", "expires_at", "user"}`.
/// Failed attempts are throttled per username and per address (see `throttle`): a locked
/// out name or address gets 429 with `Retry-After`.
pub async fn login(State(state): State<AppState>, ConnectInfo(peer): ConnectInfo<SocketAddr>, SmallBody(body): SmallBody) -> ApiResult<Json<Value>> {
    let body: LoginBody = json_body(&body, r#"{"username": ..., "password": ...}"#)?;
    let (limits, addr) = (state.login_limits, Some(peer.ip()));
    if let Err(wait) = state.login_throttle.check(&limits, &body.username, addr) {
        return Err(ApiError::TooManyAttempts(wait));
    }
    let accounts = state.accounts.clone();
    let name = body.username.clone();
    let issued = match blocking(move || Ok(accounts.login(&body.username, &body.password)?)).await {
        Ok(i) => {
            state.login_throttle.succeeded(&name);
            i
        }
        Err(e) => {
            if matches!(e, ApiError::Unauthorized(..)) {
                state.login_throttle.failed(&limits, &name, addr);
            }
            return Err(e);
        }
    };
    Ok(Json(json!({
        "token": issued.token,
        "expires_at": issued.expires_at,
        "user": UserDto::from(&issued.user),
    })))
}

/// `POST /api/v1/auth/logout`: revokes the presented token.
pub async fn logout(State(state): State<AppState>, AuthUser(_): AuthUser, headers: HeaderMap) -> ApiResult<StatusCode> {
    let token = bearer(&headers).unwrap_or_default().to_string();
    let accounts = state.accounts.clone();
    blocking(move || Ok(accounts.logout(&token)?)).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn me(AuthUser(user): AuthUser) -> Json<UserDto> {
    Json(UserDto::from(&user))
}
