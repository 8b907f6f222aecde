//! Account management over HTTP: a user changes their own password; admins list, create
//! and delete users and reset passwords (the same operations as `tonearm user ...`).

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::Deserialize;

use super::auth::AuthUser;
use super::dto::UserDto;
use super::{Path, SmallBody, ApiError, ApiResult, AppState, blocking, json_body, parse_id};
use crate::catalog::User;

/// A signed-in administrator; anyone else gets 403.
pub struct AdminUser;

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let AuthUser(u) = AuthUser::from_request_parts(parts, state).await?;
        if u.is_admin { Ok(AdminUser) } else { Err(ApiError::Forbidden("forbidden", "this needs an administrator".into())) }
    }
}

#[derive(Deserialize)]
struct ChangePassword {
    current_password: String,
    new_password: String,
}

/// `POST /api/v1/me/password` `{"current_password","new_password"}`: 204; every session of
/// the user ends, this one included.
pub async fn change_own_password(State(s): State<AppState>, AuthUser(u): AuthUser, SmallBody(body): SmallBody) -> ApiResult<StatusCode> {
    let b: ChangePassword = json_body(&body, r#"{"current_password": ..., "new_password": ...}"#)?;
    let accounts = s.accounts.clone();
    blocking(move || Ok(accounts.change_password(&u.username, &b.current_password, &b.new_password)?)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/admin/users`: `{"items": [...], "total": N}`, like every list.
pub async fn list_users(State(s): State<AppState>, _: AdminUser) -> ApiResult<Json<super::dto::ListDto<UserDto>>> {
    let users = blocking(move || Ok(s.catalog.list_users()?)).await?;
    Ok(Json(super::dto::ListDto { total: users.len() as u64, items: users.iter().map(UserDto::from).collect() }))
}

#[derive(Deserialize)]
struct NewUser {
    username: String,
    password: String,
    #[serde(default)]
    admin: bool,
}

/// `POST /api/v1/admin/users` `{"username","password","admin"}`: 201 with the user.
pub async fn create_user(State(s): State<AppState>, _: AdminUser, SmallBody(body): SmallBody) -> ApiResult<(StatusCode, Json<UserDto>)> {
    let b: NewUser = json_body(&body, r#"{"username": ..., "password": ..., "admin": false}"#)?;
    let accounts = s.accounts.clone();
    let u = blocking(move || Ok(accounts.create_user(&b.username, &b.password, b.admin)?)).await?;
    Ok((StatusCode::CREATED, Json(UserDto::from(&u))))
}

async fn user_by_id(s: &AppState, id: i64) -> ApiResult<User> {
    let catalog = s.catalog.clone();
    blocking(move || Ok(catalog.list_users()?)).await?.into_iter().find(|u| u.id == id).ok_or_else(|| ApiError::not_found("user"))
}

#[derive(Deserialize)]
struct ResetPassword {
    password: String,
}

/// `PUT /api/v1/admin/users/{id}/password` `{"password"}`: 204; the user's sessions end.
pub async fn reset_password(State(s): State<AppState>, _: AdminUser, Path(id): Path<String>, SmallBody(body): SmallBody) -> ApiResult<StatusCode> {
    let b: ResetPassword = json_body(&body, r#"{"password": ...}"#)?;
    let u = user_by_id(&s, parse_id(&id, "user")?).await?;
    let accounts = s.accounts.clone();
    blocking(move || Ok(accounts.set_password(&u.username, &b.password)?)).await?;
    s.playback_tracks.retain(|(user, _), _| *user != u.id);
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/admin/users/{id}`: removes the user and their library; files nobody
/// else owns are deleted from the store. The last administrator cannot be deleted.
pub async fn delete_user(State(s): State<AppState>, _: AdminUser, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let u = user_by_id(&s, parse_id(&id, "user")?).await?;
    let (catalog, ingest) = (s.catalog.clone(), s.ingest.clone());
    blocking(move || {
        let admins = catalog.list_users()?.iter().filter(|x| x.is_admin).count();
        if u.is_admin && admins <= 1 {
            return Err(ApiError::Conflict("the last administrator cannot be deleted".into()));
        }
        ingest.delete_user(&u.username)?;
        Ok(())
    })
    .await?;
    // Their sessions and resolved tracks end now, not when the caches expire.
    s.accounts.forget_user(u.id);
    s.playback_tracks.retain(|(user, _), _| *user != u.id);
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/admin/storage`: what users uploaded (logical) against what is stored
/// (physical), the dedup ratio, blob count, and per-user usage.
pub async fn storage(State(s): State<AppState>, _: AdminUser) -> ApiResult<Json<serde_json::Value>> {
    let (catalog, store) = (s.catalog.clone(), s.store.clone());
    let (stats, users, on_disk) = blocking(move || Ok((catalog.blob_stats()?, catalog.usage_by_user()?, store.physical_bytes()?))).await?;
    let ratio = if stats.physical_bytes > 0 { stats.logical_bytes as f64 / stats.physical_bytes as f64 } else { 1.0 };
    Ok(Json(serde_json::json!({
        "logical_bytes": stats.logical_bytes,
        "physical_bytes": stats.physical_bytes,
        "store_bytes_on_disk": on_disk,
        "dedup_ratio": (ratio * 1000.0).round() / 1000.0,
        "blobs": stats.blobs,
        "users": users.iter().map(|u| serde_json::json!({
            "id": u.user, "username": u.username, "tracks": u.tracks, "bytes": u.bytes,
        })).collect::<Vec<_>>(),
    })))
}

/// `PATCH /api/v1/admin/users/{id}` `{"disabled"?: bool, "quota_bytes"?: number | null}`:
/// disabling ends the user's sessions; `null` removes the quota. 204. The last enabled
/// administrator cannot be disabled.
pub async fn update_user(State(s): State<AppState>, _: AdminUser, Path(id): Path<String>, SmallBody(body): SmallBody) -> ApiResult<StatusCode> {
    let u = user_by_id(&s, parse_id(&id, "user")?).await?;
    let v: serde_json::Value = json_body(&body, r#"{"disabled"?: true|false, "quota_bytes"?: bytes|null}"#)?;
    let disabled = match v.get("disabled") {
        None => None,
        Some(d) => Some(d.as_bool().ok_or_else(|| ApiError::bad_request("bad_json", "disabled must be true or false"))?),
    };
    let quota = match v.get("quota_bytes") {
        None => None,
        Some(serde_json::Value::Null) => Some(None),
        Some(q) => Some(Some(q.as_u64().ok_or_else(|| ApiError::bad_request("bad_json", "quota_bytes must be a whole number of bytes or null"))?)),
    };
    let catalog = s.catalog.clone();
    let id = u.id;
    blocking(move || {
        if disabled == Some(true) && u.is_admin {
            let others = catalog.list_users()?.iter().filter(|x| x.is_admin && !x.disabled && x.id != u.id).count();
            if others == 0 {
                return Err(ApiError::Conflict("the last administrator cannot be disabled".into()));
            }
        }
        Ok(catalog.set_user_limits(u.id, disabled, quota)?)
    })
    .await?;
    s.accounts.forget_user(id);
    s.playback_tracks.retain(|(user, _), _| *user != id);
    Ok(StatusCode::NO_CONTENT)
}
