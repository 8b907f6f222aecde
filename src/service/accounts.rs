//! Accounts: users, passwords, sessions and the rules about them — name and password
//! policy, argon2id hashes, opaque bearer tokens stored only as their BLAKE3 hash (expiring,
//! revocable), sign-in throttling ([`super::throttle`]), the first user being an
//! administrator, at least one enabled administrator remaining, and the account key signed
//! URLs are bound to. The web API, the CLI and every later protocol call these.
//!
//! Depends on the catalog's user repository, `ingest` (a deleted user's files) and
//! `coord`; knows nothing of HTTP. Hashing is deliberately slow: every method blocks.
//! Room for more credentials (per-user API keys, a Subsonic token secret) is the
//! [`Credential`] enum: each kind is checked here, under the same throttle and the same
//! disabled-account rule.

use std::net::IpAddr;
use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dashmap::DashMap;

use super::throttle::{Limits, Throttle};
use crate::catalog::{ApiKey, Catalog, CatalogError, User, UserChange};
use crate::coord::{Coordination, Invalidation};
use crate::domain::{ContentHash, UserId, now_unix};
use crate::ingest::{Ingest, IngestError};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("username must be 1 to 64 characters, without control characters or leading/trailing spaces")]
    BadUsername,
    #[error("password must be at least 8 characters")]
    WeakPassword,
    #[error("wrong username or password")]
    BadCredentials,
    #[error("this account is disabled")]
    Disabled,
    #[error("too many failed sign-ins; retry in {0} s")]
    Throttled(u32),
    #[error("user not found")]
    NoSuchUser,
    #[error("the last administrator cannot be {0}")]
    LastAdmin(&'static str),
    #[error("this needs an administrator")]
    NotAdmin,
    #[error("token authentication is turned off on this server: sign in with the password or an API key")]
    TokenAuthOff,
    #[error("the API key is not valid")]
    BadApiKey,
    #[error("API key labels are 1 to 100 characters, without control characters")]
    BadLabel,
    #[error("no such API key")]
    NoSuchApiKey,
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
}

pub type Result<T> = std::result::Result<T, AccountError>;

pub const MIN_PASSWORD: usize = 8;

/// The gate changes to administrators are made under.
const ADMINS: &str = "administrators";

/// A cheap-to-clone handle on the account rules.
#[derive(Clone)]
pub struct Accounts(Arc<Inner>);

struct Inner {
    catalog: Arc<dyn Catalog>,
    ingest: Arc<Ingest>,
    coord: Arc<dyn Coordination>,
    limits: Limits,
    token_ttl_secs: i64,
    /// Verified against when the user does not exist, so both cases take as long. Made on
    /// first use: commands that never log anyone in (import) should not pay for it.
    dummy_hash: std::sync::OnceLock<String>,
    /// Recently verified sessions (token hash → user, verified at), so that a player
    /// fetching segments does not hit the catalog for every request. Entries live
    /// [`SESSION_CACHE_SECS`]; invalidations ([`Invalidation::User`], `Session`) drop them.
    recent: Arc<DashMap<[u8; 32], (User, i64)>>,
    /// Recently read grant keys (see [`Accounts::grant_key`]), with when.
    grant_keys: Arc<DashMap<UserId, (Option<u64>, i64)>>,
    /// Counts invalidations: what was read from the catalog before one is not cached after it.
    epoch: Arc<std::sync::atomic::AtomicU64>,
    /// Seals the copy of each password that token auth checks against; `None` when
    /// `[subsonic] token_auth` is off (no copy is kept).
    sealer: Option<Arc<crate::signing::Sealer>>,
}

/// How long a verified session is trusted without asking the catalog again. A session
/// revoked by another process (the CLI) stops working within this time.
pub const SESSION_CACHE_SECS: i64 = 10;
const SESSION_CACHE_MAX: usize = 10_000;

/// A freshly issued login token; only its hash is kept by the server.
#[derive(Debug, Clone)]
pub struct Issued {
    pub token: String,
    pub user: User,
    pub expires_at: i64,
}

/// Something a client signs in with.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    /// A name and password (the web player, the JSON API's login, Subsonic `p=`).
    Password { username: &'a str, password: &'a str },
    /// Subsonic token auth: `token` is the hex MD5 of the password followed by `salt`.
    Token { username: &'a str, token: &'a str, salt: &'a str },
    /// A per-user API key (OpenSubsonic `apiKey`).
    ApiKey(&'a str),
}

/// Who asks for an administrator's operation.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    /// The operator at the command line, who owns the data directory.
    Operator,
    /// A signed-in user: an enabled administrator, or refused.
    User(&'a User),
}

impl Actor<'_> {
    pub fn require_admin(self) -> Result<()> {
        match self {
            Actor::Operator => Ok(()),
            Actor::User(u) if u.is_admin && !u.disabled => Ok(()),
            Actor::User(_) => Err(AccountError::NotAdmin),
        }
    }
}

/// Why an administrator would stop being one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AdminLoss {
    Deleted,
    Disabled,
    Demoted,
}

/// At least one enabled administrator remains: `target` may not be deleted or disabled
/// when it is the only one.
fn keeps_an_admin(users: &[User], target: &User, loss: AdminLoss) -> Result<()> {
    let counts = target.is_admin && !target.disabled;
    let others = users.iter().filter(|u| u.is_admin && !u.disabled && u.id != target.id).count();
    if counts && others == 0 {
        return Err(AccountError::LastAdmin(match loss {
            AdminLoss::Deleted => "deleted",
            AdminLoss::Disabled => "disabled",
            AdminLoss::Demoted => "made a regular user",
        }));
    }
    Ok(())
}

/// Equal bytes, compared in full whatever differs (no early exit to time).
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

pub fn validate_username(name: &str) -> Result<()> {
    let ok = !name.is_empty() && name.chars().count() <= 64 && name.trim() == name && !name.chars().any(char::is_control);
    if ok { Ok(()) } else { Err(AccountError::BadUsername) }
}

pub fn hash_password(password: &str) -> Result<String> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(AccountError::WeakPassword);
    }
    argon2_hash(password.as_bytes())
}

/// An argon2id PHC string for `secret` with a fresh random salt.
fn argon2_hash(secret: &[u8]) -> Result<String> {
    let mut salt = [0u8; 16];
    rand::fill(&mut salt[..]);
    Argon2::default().hash_password_with_salt(secret, &salt).map(|h| h.to_string()).map_err(|e| AccountError::Hash(e.to_string()))
}

fn verify(hash: &str, password: &str) -> bool {
    Argon2::default().verify_password(password.as_bytes(), hash).is_ok()
}

/// The key a token is stored under.
pub fn token_key(token: &str) -> [u8; 32] {
    ContentHash::of(token.as_bytes()).0
}

/// The grant key of a password hash (see [`Accounts::grant_key`]).
fn fingerprint(hash: &str) -> u64 {
    let h = ContentHash::of(hash.as_bytes()).0;
    u64::from_le_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]])
}

impl Accounts {
    pub fn new(
        catalog: Arc<dyn Catalog>,
        ingest: Arc<Ingest>,
        coord: Arc<dyn Coordination>,
        limits: Limits,
        token_ttl_hours: u64,
        sealer: Option<Arc<crate::signing::Sealer>>,
    ) -> Accounts {
        let token_ttl_secs = (token_ttl_hours.min(24 * 365 * 10) * 3600) as i64;
        let recent: Arc<DashMap<[u8; 32], (User, i64)>> = Arc::default();
        let grant_keys: Arc<DashMap<UserId, (Option<u64>, i64)>> = Arc::default();
        let epoch: Arc<std::sync::atomic::AtomicU64> = Arc::default();
        let (r, g, e) = (recent.clone(), grant_keys.clone(), epoch.clone());
        coord.subscribe(Box::new(move |what| match *what {
            Invalidation::User(id) => {
                e.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                r.retain(|_, (u, _)| u.id != id);
                g.remove(&id);
            }
            Invalidation::Session(key) => {
                e.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                r.remove(&key);
            }
            Invalidation::Everything => {
                e.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                r.clear();
                g.clear();
            }
            Invalidation::Track(..) => {}
        }));
        Accounts(Arc::new(Inner { catalog, ingest, coord, limits, token_ttl_secs, dummy_hash: std::sync::OnceLock::new(), recent, grant_keys, epoch, sealer }))
    }

    /// Invalidations seen so far (see `Inner::epoch`).
    fn epoch(&self) -> u64 {
        self.0.epoch.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn dummy_hash(&self) -> &str {
        self.0.dummy_hash.get_or_init(|| argon2_hash(b"not a real password").unwrap_or_default())
    }

    fn throttle(&self) -> Throttle<'_> {
        Throttle { coord: self.0.coord.as_ref(), limits: self.0.limits }
    }

    /// Whether nobody has an account yet (the player then explains how to make the first).
    pub fn first_run(&self) -> Result<bool> {
        Ok(self.0.catalog.user_count()? == 0)
    }

    /// Creates a user; the first user of a server is always an administrator.
    pub fn create_user(&self, actor: Actor<'_>, username: &str, password: &str, is_admin: bool) -> Result<User> {
        actor.require_admin()?;
        validate_username(username)?;
        let hash = hash_password(password)?;
        let first = self.0.catalog.user_count()? == 0;
        let user = self.0.catalog.create_user(username, &hash, is_admin || first)?;
        self.keep_secret(user.id, password, &hash)?;
        Ok(user)
    }

    /// Keeps the sealed copy of `password` that token auth checks (when it is on), while
    /// the user's hash is still `hash` (the password's own).
    fn keep_secret(&self, id: UserId, password: &str, hash: &str) -> Result<()> {
        if let Some(sealer) = &self.0.sealer {
            self.0.catalog.set_subsonic_secret(id, &sealer.seal(password.as_bytes()), hash)?;
        }
        Ok(())
    }

    pub fn list_users(&self, actor: Actor<'_>) -> Result<Vec<User>> {
        actor.require_admin()?;
        Ok(self.0.catalog.list_users()?)
    }

    pub fn user(&self, id: UserId) -> Result<User> {
        self.0.catalog.user_by_id(id)?.map(|(u, _)| u).ok_or(AccountError::NoSuchUser)
    }

    fn user_named(&self, username: &str) -> Result<User> {
        Ok(self.0.catalog.user_by_name(username)?.ok_or(AccountError::NoSuchUser)?.0)
    }

    /// Sets a user's password (an administrator's reset, `tonearm user passwd`); their
    /// sessions and signed URLs end.
    pub fn set_password(&self, actor: Actor<'_>, username: &str, password: &str) -> Result<()> {
        actor.require_admin()?;
        self.store_password(username, password)
    }

    /// Sets `username`'s password on behalf of `actor`: their own, or anyone's for an
    /// administrator (Subsonic `changePassword`, where the call's credential proves who
    /// asks). The user's sessions and signed URLs end.
    pub fn set_password_for(&self, actor: &User, username: &str, password: &str) -> Result<()> {
        if actor.username != username {
            Actor::User(actor).require_admin()?;
        }
        self.store_password(username, password)
    }

    fn store_password(&self, username: &str, password: &str) -> Result<()> {
        self.store_hash(username, password, &hash_password(password)?)
    }

    /// Sets `username`'s password to `password`, already hashed as `hash`.
    fn store_hash(&self, username: &str, password: &str, hash: &str) -> Result<()> {
        let user = self.user_named(username)?;
        // The old copy goes with the old password in the same transaction.
        self.0.catalog.set_password(username, hash)?;
        self.keep_secret(user.id, password, hash)?;
        self.0.coord.invalidate(Invalidation::User(user.id));
        Ok(())
    }

    /// An administrator's change to `username`: administration granted or withdrawn (the
    /// last enabled administrator stays one) and/or a new password. Everything is checked
    /// before anything changes: a weak password or the last administrator changes nothing.
    pub fn update_account(&self, actor: Actor<'_>, username: &str, is_admin: Option<bool>, password: Option<&str>) -> Result<()> {
        actor.require_admin()?;
        let target = self.user_named(username)?;
        let hash = password.map(hash_password).transpose()?;
        if is_admin.is_some() {
            self.update_user(actor, target.id, UserChange { is_admin, ..Default::default() })?;
        }
        match (password, hash) {
            (Some(pw), Some(h)) => self.store_hash(username, pw, &h),
            _ => Ok(()),
        }
    }

    pub fn reset_password(&self, actor: Actor<'_>, id: UserId, password: &str) -> Result<()> {
        actor.require_admin()?;
        let u = self.user(id)?;
        self.store_password(&u.username, password)
    }

    /// Changes a user's own password after checking the current one; ends their sessions.
    pub fn change_password(&self, username: &str, current: &str, new: &str) -> Result<()> {
        let (_, hash) = self.0.catalog.user_by_name(username)?.ok_or(AccountError::BadCredentials)?;
        if !verify(&hash, current) {
            return Err(AccountError::BadCredentials);
        }
        self.store_password(username, new)
    }

    /// Checks a credential (throttled per name and per address: a locked-out name or
    /// address is refused before any password is checked) and issues a session token.
    /// Unknown users and wrong passwords are the same error and take the same time.
    pub fn login(&self, credential: Credential<'_>, addr: Option<IpAddr>) -> Result<Issued> {
        let user = self.check(credential, addr)?;
        let mut raw = [0u8; 32];
        rand::fill(&mut raw[..]);
        let token = URL_SAFE_NO_PAD.encode(raw);
        let expires_at = now_unix() + self.0.token_ttl_secs;
        self.0.catalog.create_session(user.id, &token_key(&token), expires_at)?;
        Ok(Issued { token, user, expires_at })
    }

    /// The user a credential names, if it is right and the account enabled.
    pub fn check(&self, credential: Credential<'_>, addr: Option<IpAddr>) -> Result<User> {
        match credential {
            Credential::Password { username, password } => self.check_password(username, password, addr),
            Credential::Token { username, token, salt } => self.check_token(username, token, salt, addr),
            Credential::ApiKey(key) => self.check_api_key(key, addr),
        }
    }

    fn check_password(&self, username: &str, password: &str, addr: Option<IpAddr>) -> Result<User> {
        self.throttle().check(username, addr).map_err(AccountError::Throttled)?;
        // Apps that send `p=` send it with every call: where the sealed copy is kept, a match
        // with it is the same proof as the argon2 hash at a thousandth of the cost (and
        // nothing to write). Anything else takes the hash, as a first sign-in does.
        if let Some(sealer) = &self.0.sealer
            && let Some((user, sealed)) = self.0.catalog.subsonic_secret(username)?
            && sealer.open(&sealed).is_some_and(|pw| same_bytes(&pw, password.as_bytes()))
        {
            return self.settle(username, addr, Some(user));
        }
        let found = self.0.catalog.user_by_name(username)?;
        let ok = match &found {
            Some((_, hash)) => verify(hash, password),
            None => {
                let _ = verify(self.dummy_hash(), password);
                false
            }
        };
        let hash = found.as_ref().map(|(_, h)| h.clone()).unwrap_or_default();
        let user = self.settle(username, addr, found.filter(|_| ok).map(|(u, _)| u))?;
        // A user made before token auth was on gets the copy at their next sign-in (unless
        // the password changed meanwhile).
        self.keep_secret(user.id, password, &hash)?;
        Ok(user)
    }

    /// The end of every named sign-in: a wrong credential counts against the name and the
    /// address; only a right one learns that the account is disabled; success clears the
    /// name's count.
    fn settle(&self, username: &str, addr: Option<IpAddr>, matched: Option<User>) -> Result<User> {
        let Some(user) = matched else {
            self.throttle().failed(username, addr);
            return Err(AccountError::BadCredentials);
        };
        if user.disabled {
            return Err(AccountError::Disabled);
        }
        self.throttle().succeeded(username);
        Ok(user)
    }

    /// Subsonic token auth: md5(password + salt), against the sealed copy of the password.
    fn check_token(&self, username: &str, token: &str, salt: &str, addr: Option<IpAddr>) -> Result<User> {
        let Some(sealer) = &self.0.sealer else { return Err(AccountError::TokenAuthOff) };
        self.throttle().check(username, addr).map_err(AccountError::Throttled)?;
        let found = self.0.catalog.subsonic_secret(username)?;
        let password = found.as_ref().and_then(|(_, sealed)| sealer.open(sealed));
        let ok = password.is_some_and(|pw| {
            use md5::Digest;
            let want: String = md5::Md5::new().chain_update(&pw).chain_update(salt.as_bytes()).finalize().iter().map(|b| format!("{b:02x}")).collect();
            same_bytes(want.as_bytes(), token.to_ascii_lowercase().as_bytes())
        });
        self.settle(username, addr, found.filter(|_| ok).map(|(u, _)| u))
    }

    fn check_api_key(&self, key: &str, addr: Option<IpAddr>) -> Result<User> {
        // Keys are counted against the address only: a key names no user before it is found.
        self.throttle().check_address(addr).map_err(AccountError::Throttled)?;
        let user = if key.is_empty() || key.len() > 256 { None } else { self.0.catalog.api_key_user(&token_key(key), now_unix())? };
        user.ok_or_else(|| {
            self.throttle().failed_address(addr);
            AccountError::BadApiKey
        })
    }

    /// Makes an API key for `user` (named `label`); the key is returned once and stored
    /// only as its hash.
    pub fn add_api_key(&self, user: &User, label: &str) -> Result<(ApiKey, String)> {
        let label = label.trim();
        if label.is_empty() || label.chars().count() > 100 || label.chars().any(char::is_control) {
            return Err(AccountError::BadLabel);
        }
        let mut raw = [0u8; 32];
        rand::fill(&mut raw[..]);
        let key = format!("ta_{}", URL_SAFE_NO_PAD.encode(raw));
        let info = self.0.catalog.add_api_key(user.id, &token_key(&key), label, now_unix())?;
        Ok((info, key))
    }

    pub fn api_keys(&self, user: &User) -> Result<Vec<ApiKey>> {
        Ok(self.0.catalog.api_keys(user.id)?)
    }

    pub fn revoke_api_key(&self, user: &User, id: i64) -> Result<()> {
        if self.0.catalog.revoke_api_key(user.id, id)? { Ok(()) } else { Err(AccountError::NoSuchApiKey) }
    }

    /// The user named `username`, for the operator's commands (`tonearm user api-key …`).
    /// Lets devices on the local network (UPnP/DLNA) browse and play `username`'s library,
    /// or stops them.
    pub fn set_lan_shared(&self, actor: Actor<'_>, username: &str, on: bool) -> Result<User> {
        let user = self.user_by_name(actor, username)?;
        self.0.catalog.set_lan_shared(user.id, on)?;
        Ok(user)
    }

    /// The enabled users whose library the local network sees.
    pub fn lan_shared(&self) -> Result<Vec<User>> {
        Ok(self.0.catalog.lan_shared()?)
    }

    pub fn user_by_name(&self, actor: Actor<'_>, username: &str) -> Result<User> {
        actor.require_admin()?;
        self.user_named(username)
    }

    /// The user a bearer token belongs to, if it is live.
    pub fn authenticate(&self, token: &str) -> Result<Option<User>> {
        if token.is_empty() || token.len() > 256 {
            return Ok(None);
        }
        let key = token_key(token);
        let now = now_unix();
        let epoch = self.epoch();
        let user = self.0.catalog.session_user(&key, now)?;
        let recent = &self.0.recent;
        match &user {
            Some(u) if self.epoch() == epoch => {
                if recent.len() >= SESSION_CACHE_MAX {
                    recent.retain(|_, (_, at)| now - *at < SESSION_CACHE_SECS);
                }
                recent.insert(key, (u.clone(), now));
            }
            _ => {
                recent.remove(&key);
            }
        }
        Ok(user)
    }

    /// What a signed playback URL is bound to besides its user, track and expiry: a
    /// fingerprint of the account's password hash, which every password change (the user's
    /// own or an administrator's reset) replaces, so URLs signed before stop working; `None`
    /// for a disabled or deleted account, whose URLs open nothing. Reads the catalog unless
    /// [`Accounts::recent_grant_key`] knows it.
    pub fn grant_key(&self, id: UserId) -> Result<Option<u64>> {
        let now = now_unix();
        let epoch = self.epoch();
        let key = match self.0.catalog.user_by_id(id)? {
            Some((u, hash)) if !u.disabled => Some(fingerprint(&hash)),
            _ => None,
        };
        let keys = &self.0.grant_keys;
        if keys.len() >= SESSION_CACHE_MAX {
            keys.retain(|_, (_, at)| now - *at < SESSION_CACHE_SECS);
        }
        if self.epoch() == epoch {
            keys.insert(id, (key, now));
        }
        Ok(key)
    }

    /// [`Accounts::grant_key`] read in the last [`SESSION_CACHE_SECS`], without blocking
    /// (renewed by one caller at a time, as [`Accounts::recently_authenticated`]).
    pub fn recent_grant_key(&self, id: UserId) -> Option<Option<u64>> {
        let mut e = self.0.grant_keys.get_mut(&id)?;
        let now = now_unix();
        if now - e.1 < SESSION_CACHE_SECS {
            return Some(e.0);
        }
        e.1 = now;
        None
    }

    /// The user of a session verified in the last [`SESSION_CACHE_SECS`], without blocking.
    /// When the entry has just gone stale, the first caller is told `None` (and checks the
    /// catalog, which renews or drops the entry) while the entry is marked fresh for the
    /// others: a player's dozens of parallel requests do not all ask the catalog at once.
    pub fn recently_authenticated(&self, token: &str) -> Option<User> {
        let key = token_key(token);
        let mut e = self.0.recent.get_mut(&key)?;
        let now = now_unix();
        if now - e.1 < SESSION_CACHE_SECS {
            return Some(e.0.clone());
        }
        e.1 = now;
        None
    }

    pub fn logout(&self, token: &str) -> Result<bool> {
        let key = token_key(token);
        let deleted = self.0.catalog.delete_session(&key)?;
        self.0.coord.invalidate(Invalidation::Session(key));
        Ok(deleted)
    }

    /// Deletes a user, their sessions and library; the files nobody else owns go from the
    /// store. The last enabled administrator cannot be deleted. Returns blobs and bytes freed.
    pub fn delete_user(&self, actor: Actor<'_>, id: UserId) -> Result<(usize, u64)> {
        actor.require_admin()?;
        // The rule is checked and the change made under one gate: two administrators
        // removing each other at once cannot leave none.
        let _alone = self.0.coord.gate(ADMINS, true);
        let users = self.0.catalog.list_users()?;
        let target = users.iter().find(|u| u.id == id).ok_or(AccountError::NoSuchUser)?;
        keeps_an_admin(&users, target, AdminLoss::Deleted)?;
        let freed = self.0.ingest.delete_user(&target.username)?;
        self.0.coord.invalidate(Invalidation::User(id));
        Ok(freed)
    }

    /// [`Accounts::delete_user`] by name (`tonearm user delete NAME`).
    pub fn delete_user_named(&self, actor: Actor<'_>, username: &str) -> Result<(usize, u64)> {
        let id = self.user_named(username)?.id;
        self.delete_user(actor, id)
    }

    /// Disables/enables a user (disabling ends their sessions and signed URLs), sets their
    /// quota (`Some(None)` removes it), grants or withdraws administration. The last enabled
    /// administrator can be neither disabled nor made a regular user.
    pub fn update_user(&self, actor: Actor<'_>, id: UserId, change: UserChange) -> Result<()> {
        actor.require_admin()?;
        let _alone = self.0.coord.gate(ADMINS, true);
        let users = self.0.catalog.list_users()?;
        let target = users.iter().find(|u| u.id == id).ok_or(AccountError::NoSuchUser)?;
        if change.disabled == Some(true) {
            keeps_an_admin(&users, target, AdminLoss::Disabled)?;
        }
        if change.is_admin == Some(false) {
            keeps_an_admin(&users, target, AdminLoss::Demoted)?;
        }
        self.0.catalog.update_user(id, &change)?;
        self.0.coord.invalidate(Invalidation::User(id));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: i64, is_admin: bool, disabled: bool) -> User {
        User { id: UserId(id), username: format!("u{id}"), is_admin, created_at: 0, disabled, quota_bytes: None }
    }

    #[test]
    fn one_enabled_administrator_always_remains() {
        let (a, b, c) = (user(1, true, false), user(2, true, true), user(3, false, false));
        let users = [a.clone(), b.clone(), c.clone()];
        assert!(matches!(keeps_an_admin(&users, &a, AdminLoss::Deleted), Err(AccountError::LastAdmin("deleted"))), "a disabled admin does not count");
        assert!(matches!(keeps_an_admin(&users, &a, AdminLoss::Disabled), Err(AccountError::LastAdmin("disabled"))));
        assert!(keeps_an_admin(&users, &b, AdminLoss::Deleted).is_ok(), "a disabled admin may go");
        assert!(keeps_an_admin(&users, &c, AdminLoss::Deleted).is_ok());
        let two = [a.clone(), user(4, true, false)];
        assert!(keeps_an_admin(&two, &a, AdminLoss::Deleted).is_ok());
        assert!(keeps_an_admin(&two, &a, AdminLoss::Disabled).is_ok());
    }

    #[test]
    fn names_and_passwords_follow_the_policy() {
        assert!(validate_username("a\u{7}b").is_err());
        assert!(matches!(hash_password("short"), Err(AccountError::WeakPassword)));
    }
}
