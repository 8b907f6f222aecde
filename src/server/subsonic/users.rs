//! Accounts over Subsonic, through the `Accounts` service and its rules (administrators
//! only, the last administrator stays): `getUser`, `getUsers`, `createUser`, `deleteUser`,
//! `updateUser`, `changePassword`.

use serde_json::{Value, json};

use super::envelope::{Failure, from_account};
use super::params::Params;
use crate::catalog::User;
use crate::service::Accounts;
use crate::service::accounts::Actor;

/// A user with the roles Tonearm grants (`videoConversionRole` is required by the schema).
pub fn user_json(u: &User) -> Value {
    json!({
        "username": u.username,
        "scrobblingEnabled": true,
        "adminRole": u.is_admin,
        "settingsRole": true,
        "downloadRole": true,
        "uploadRole": true,
        "playlistRole": true,
        "coverArtRole": true,
        "commentRole": false,
        "podcastRole": false,
        "streamRole": true,
        "jukeboxRole": false,
        "shareRole": true,
        "videoConversionRole": false,
        "folder": [1],
    })
}

/// `getUser`: oneself, or anyone for an administrator.
pub fn get_user(accounts: &Accounts, me: &User, p: &Params) -> Result<Value, Failure> {
    let name = p.require("username")?;
    let user = if name.eq_ignore_ascii_case(&me.username) { me.clone() } else { accounts.user_by_name(Actor::User(me), name).map_err(from_account)? };
    Ok(json!({ "user": user_json(&user) }))
}

pub fn get_users(accounts: &Accounts, me: &User) -> Result<Value, Failure> {
    let all = accounts.list_users(Actor::User(me)).map_err(from_account)?;
    Ok(json!({ "users": { "user": all.iter().map(user_json).collect::<Vec<_>>() } }))
}

pub fn create_user(accounts: &Accounts, me: &User, p: &Params) -> Result<Value, Failure> {
    let (name, password) = (p.require("username")?, super::decode_password(p.require("password")?)?);
    p.require("email")?;
    let admin = p.get("adminRole") == Some("true");
    accounts.create_user(Actor::User(me), name, &password, admin).map_err(from_account)?;
    Ok(json!({}))
}

/// `updateUser`: a new `password` and `adminRole`, the two things an account has that
/// the protocol can change; the other roles are all granted (and `maxBitRate`, e-mail and
/// folders are not kept), so they are accepted and left as they are.
pub fn update_user(accounts: &Accounts, me: &User, p: &Params) -> Result<Value, Failure> {
    let name = p.require("username")?;
    let is_admin = match p.get("adminRole") {
        None | Some("") => None,
        Some(v) => Some(v == "true"),
    };
    let password = p.get("password").filter(|v| !v.is_empty()).map(super::decode_password).transpose()?;
    accounts.update_account(Actor::User(me), name, is_admin, password.as_deref()).map_err(from_account)?;
    Ok(json!({}))
}

pub fn delete_user(accounts: &Accounts, me: &User, p: &Params) -> Result<Value, Failure> {
    accounts.delete_user_named(Actor::User(me), p.require("username")?).map_err(from_account)?;
    Ok(json!({}))
}

/// `changePassword`: one's own (the credential the call carries proves who asks), or
/// anyone's for an administrator. Sessions and signed URLs of that user end.
pub fn change_password(accounts: &Accounts, me: &User, p: &Params) -> Result<Value, Failure> {
    let (name, password) = (p.require("username")?, super::decode_password(p.require("password")?)?);
    accounts.set_password_for(me, name, &password).map_err(from_account)?;
    Ok(json!({}))
}
