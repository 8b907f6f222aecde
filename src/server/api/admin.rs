//! Account management over HTTP: a user changes their own password; administrators list,
//! create, disable and delete users, reset passwords, and read the storage figures (the
//! same operations as `tonearm user ...`, through the same `Accounts` service).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

use super::auth::{AdminUser, AuthUser};
use super::dto::{ApiKeyDto, ListDto, StorageDto, UserDto};
use crate::server::{ApiError, ApiResult, Path, SmallBody, blocking, json_body, parse_id};
use crate::service::accounts::Actor;
use crate::service::{Accounts, Library};

#[derive(Deserialize)]
struct ChangePassword {
    current_password: String,
    new_password: String,
}

/// `POST /api/v1/me/password` `{"current_password","new_password"}`: 204; every session of
/// the user ends, this one included.
pub async fn change_own_password(State(accounts): State<Accounts>, AuthUser(u): AuthUser, SmallBody(body): SmallBody) -> ApiResult<StatusCode> {
    let b: ChangePassword = json_body(&body, r#"{"current_password": ..., "new_password": ...}"#)?;
    blocking(move || accounts.change_password(&u.username, &b.current_password, &b.new_password)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct NewApiKey {
    label: String,
}

/// `GET /api/v1/me/api-keys`: the signed-in user's API keys (never the keys themselves).
pub async fn api_keys(State(accounts): State<Accounts>, AuthUser(u): AuthUser) -> ApiResult<Json<ListDto<ApiKeyDto>>> {
    let keys = blocking(move || accounts.api_keys(&u)).await?;
    Ok(Json(ListDto { total: keys.len() as u64, items: keys.iter().map(ApiKeyDto::from).collect() }))
}

/// `POST /api/v1/me/api-keys` `{"label"}`: 201 with the new key, shown this once.
pub async fn add_api_key(
    State(accounts): State<Accounts>,
    AuthUser(u): AuthUser,
    SmallBody(body): SmallBody,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let b: NewApiKey = json_body(&body, r#"{"label": ...}"#)?;
    let (info, key) = blocking(move || accounts.add_api_key(&u, &b.label)).await?;
    let mut v = serde_json::json!(ApiKeyDto::from(&info));
    v["key"] = serde_json::json!(key);
    Ok((StatusCode::CREATED, Json(v)))
}

/// `DELETE /api/v1/me/api-keys/{id}`: 204; the key stops working at once.
pub async fn revoke_api_key(State(accounts): State<Accounts>, AuthUser(u): AuthUser, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id: i64 = parse_id(&id, "API key")?;
    blocking(move || accounts.revoke_api_key(&u, id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/admin/users`: `{"items": [...], "total": N}`, like every list.
pub async fn list_users(State(accounts): State<Accounts>, AdminUser(admin): AdminUser) -> ApiResult<Json<ListDto<UserDto>>> {
    let users = blocking(move || accounts.list_users(Actor::User(&admin))).await?;
    Ok(Json(ListDto { total: users.len() as u64, items: users.iter().map(UserDto::from).collect() }))
}

#[derive(Deserialize)]
struct NewUser {
    username: String,
    password: String,
    #[serde(default)]
    admin: bool,
}

/// `POST /api/v1/admin/users` `{"username","password","admin"}`: 201 with the user.
pub async fn create_user(State(accounts): State<Accounts>, AdminUser(admin): AdminUser, SmallBody(body): SmallBody) -> ApiResult<(StatusCode, Json<UserDto>)> {
    let b: NewUser = json_body(&body, r#"{"username": ..., "password": ..., "admin": false}"#)?;
    let u = blocking(move || accounts.create_user(Actor::User(&admin), &b.username, &b.password, b.admin)).await?;
    Ok((StatusCode::CREATED, Json(UserDto::from(&u))))
}

#[derive(Deserialize)]
struct ResetPassword {
    password: String,
}

/// `PUT /api/v1/admin/users/{id}/password` `{"password"}`: 204; the user's sessions end.
pub async fn reset_password(
    State(accounts): State<Accounts>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
    SmallBody(body): SmallBody,
) -> ApiResult<StatusCode> {
    let b: ResetPassword = json_body(&body, r#"{"password": ...}"#)?;
    let id = parse_id(&id, "user")?;
    blocking(move || accounts.reset_password(Actor::User(&admin), id, &b.password)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/admin/users/{id}`: removes the user and their library; files nobody
/// else owns are deleted from the store. The last administrator cannot be deleted (409).
pub async fn delete_user(State(accounts): State<Accounts>, AdminUser(admin): AdminUser, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id = parse_id(&id, "user")?;
    blocking(move || accounts.delete_user(Actor::User(&admin), id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/admin/storage`: what users uploaded (logical) against what is stored
/// (physical), the dedup ratio, blob count, and per-user usage.
pub async fn storage(State(library): State<Library>, AdminUser(admin): AdminUser) -> ApiResult<Json<StorageDto>> {
    let s = blocking(move || library.storage(Actor::User(&admin))).await?;
    Ok(Json(StorageDto::from(&s)))
}

/// `PATCH /api/v1/admin/users/{id}` `{"disabled"?: bool, "is_admin"?: bool, "quota_bytes"?:
/// number | null}`: disabling ends the user's sessions; `null` removes the quota. 204. The
/// last enabled administrator can be neither disabled nor made a regular user (409).
pub async fn update_user(
    State(accounts): State<Accounts>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
    SmallBody(body): SmallBody,
) -> ApiResult<StatusCode> {
    let id = parse_id(&id, "user")?;
    // A missing user is a 404 whatever the body says.
    let a = accounts.clone();
    blocking(move || a.user(id)).await?;
    let v: serde_json::Value = json_body(&body, r#"{"disabled"?: true|false, "is_admin"?: true|false, "quota_bytes"?: bytes|null}"#)?;
    let flag = |name: &str| -> ApiResult<Option<bool>> {
        v.get(name).map(|d| d.as_bool().ok_or_else(|| ApiError::bad_request("bad_json", format!("{name} must be true or false")))).transpose()
    };
    let (disabled, is_admin) = (flag("disabled")?, flag("is_admin")?);
    let quota = match v.get("quota_bytes") {
        None => None,
        Some(serde_json::Value::Null) => Some(None),
        Some(q) => Some(Some(q.as_u64().ok_or_else(|| ApiError::bad_request("bad_json", "quota_bytes must be a whole number of bytes or null"))?)),
    };
    let change = crate::catalog::UserChange { disabled, quota_bytes: quota, is_admin };
    blocking(move || accounts.update_user(Actor::User(&admin), id, change)).await?;
    Ok(StatusCode::NO_CONTENT)
}
