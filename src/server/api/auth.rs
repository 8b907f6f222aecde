//! Sign-in at the HTTP edge: the bearer-token extractor every `/api` route except login
//! uses, and the login, logout and `me` handlers.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, FromRef, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};

use super::dto::UserDto;
use crate::catalog::User;
use crate::server::{ApiError, ApiResult, SmallBody, blocking, json_body};
use crate::service::Accounts;
use crate::service::accounts::Credential;

/// The signed-in user, from `Authorization: Bearer <token>`.
pub struct AuthUser(pub User);

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl<S: Send + Sync> FromRequestParts<S> for AuthUser
where
    Accounts: FromRef<S>,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        bearer_user(&Accounts::from_ref(state), &parts.headers, false)
            .await?
            .map(AuthUser)
            .ok_or_else(|| ApiError::Unauthorized("unauthorized", "missing bearer token".into()))
    }
}

/// A signed-in administrator; anyone else gets 403.
pub struct AdminUser(pub User);

impl<S: Send + Sync> FromRequestParts<S> for AdminUser
where
    Accounts: FromRef<S>,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let AuthUser(u) = AuthUser::from_request_parts(parts, state).await?;
        if u.is_admin { Ok(AdminUser(u)) } else { Err(ApiError::Forbidden("forbidden", "this needs an administrator".into())) }
    }
}

/// The user of the request's bearer token: `None` without an `Authorization` header, an
/// error for a token that is invalid or expired. `recent` accepts a session verified in the
/// last few seconds without asking the catalog (playback routes, which players hit several
/// times per second; a revocation reaches them within `SESSION_CACHE_SECS`).
pub async fn bearer_user(accounts: &Accounts, headers: &HeaderMap, recent: bool) -> ApiResult<Option<User>> {
    let Some(token) = bearer(headers).map(str::to_string) else { return Ok(None) };
    if recent && let Some(u) = accounts.recently_authenticated(&token) {
        return Ok(Some(u));
    }
    let accounts = accounts.clone();
    let user = blocking(move || accounts.authenticate(&token)).await?;
    user.map(Some).ok_or_else(|| ApiError::Unauthorized("invalid_token", "token is invalid or expired".into()))
}

#[derive(Deserialize)]
struct LoginBody {
    username: String,
    password: String,
}

/// `POST /api/v1/auth/login` with `{"username", "password"}` (any content type, since
/// `curl -d` sends a form type). Answers `{"token", "expires_at", "user"}`. A locked-out
/// name or address gets 429 with `Retry-After`.
pub async fn login(State(accounts): State<Accounts>, ConnectInfo(peer): ConnectInfo<SocketAddr>, SmallBody(body): SmallBody) -> ApiResult<Json<Value>> {
    let b: LoginBody = json_body(&body, r#"{"username": ..., "password": ...}"#)?;
    let issued = blocking(move || accounts.login(Credential::Password { username: &b.username, password: &b.password }, Some(peer.ip()))).await?;
    Ok(Json(json!({ "token": issued.token, "expires_at": issued.expires_at, "user": UserDto::from(&issued.user) })))
}

/// `POST /api/v1/auth/logout`: revokes the presented token.
pub async fn logout(State(accounts): State<Accounts>, AuthUser(_): AuthUser, headers: HeaderMap) -> ApiResult<StatusCode> {
    let token = bearer(&headers).unwrap_or_default().to_string();
    blocking(move || accounts.logout(&token)).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn me(AuthUser(user): AuthUser) -> Json<UserDto> {
    Json(UserDto::from(&user))
}
