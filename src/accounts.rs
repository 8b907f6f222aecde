//! Users and sessions: argon2id password hashes, and opaque bearer tokens that are stored
//! only as their BLAKE3 hash, expire, and can be revoked.
//!
//! Owns the account rules (name and password policy, token format). Depends on the catalog
//! trait; knows nothing of HTTP. Hashing is deliberately slow: call from blocking contexts.

use std::sync::Arc;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::catalog::{Catalog, CatalogError, User};
use crate::domain::{ContentHash, UserId, now_unix};

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
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

pub type Result<T> = std::result::Result<T, AccountError>;

pub const MIN_PASSWORD: usize = 8;

pub struct Accounts {
    catalog: Arc<dyn Catalog>,
    token_ttl_secs: i64,
    /// Verified against when the user does not exist, so both cases take as long. Made on
    /// first use: commands that never log anyone in (import) should not pay for it.
    dummy_hash: std::sync::OnceLock<String>,
    /// Recently verified sessions (token hash → user, verified at), so that a player
    /// fetching segments does not hit SQLite for every request. Entries live
    /// [`SESSION_CACHE_SECS`]; logout and password changes in this process drop them at once.
    recent: dashmap::DashMap<[u8; 32], (User, i64)>,
    /// Recently read grant keys (see [`Accounts::grant_key`]), with when.
    grant_keys: dashmap::DashMap<UserId, (Option<u64>, i64)>,
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

pub fn validate_username(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.chars().count() <= 64
        && name.trim() == name
        && !name.chars().any(char::is_control);
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
    Argon2::default()
        .hash_password_with_salt(secret, &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Hash(e.to_string()))
}

fn verify(hash: &str, password: &str) -> bool {
    Argon2::default().verify_password(password.as_bytes(), hash).is_ok()
}

/// The key a token is stored under.
pub fn token_key(token: &str) -> [u8; 32] {
    ContentHash::of(token.as_bytes()).0
}

impl Accounts {
    pub fn new(catalog: Arc<dyn Catalog>, token_ttl_hours: u64) -> Result<Accounts> {
        let token_ttl_secs = (token_ttl_hours.min(24 * 365 * 10) * 3600) as i64;
        Ok(Accounts {
            catalog,
            token_ttl_secs,
            dummy_hash: std::sync::OnceLock::new(),
            recent: dashmap::DashMap::new(),
            grant_keys: dashmap::DashMap::new(),
        })
    }

    fn dummy_hash(&self) -> &str {
        self.dummy_hash.get_or_init(|| argon2_hash(b"not a real password").unwrap_or_default())
    }

    pub fn create_user(&self, username: &str, password: &str, is_admin: bool) -> Result<User> {
        validate_username(username)?;
        let hash = hash_password(password)?;
        Ok(self.catalog.create_user(username, &hash, is_admin)?)
    }

    pub fn set_password(&self, username: &str, password: &str) -> Result<()> {
        let hash = hash_password(password)?;
        self.catalog.set_password(username, &hash)?;
        self.recent.retain(|_, (u, _)| u.username != username);
        if let Some((u, _)) = self.catalog.user_by_name(username)? {
            self.grant_keys.remove(&u.id);
        }
        Ok(())
    }

    /// Changes a user's own password after checking the current one; ends their sessions.
    pub fn change_password(&self, username: &str, current: &str, new: &str) -> Result<()> {
        let (_, hash) = self.catalog.user_by_name(username)?.ok_or(AccountError::BadCredentials)?;
        if !verify(&hash, current) {
            return Err(AccountError::BadCredentials);
        }
        self.set_password(username, new)
    }

    /// Checks the password and issues a token. Unknown users and wrong passwords are the
    /// same error and take the same time.
    pub fn login(&self, username: &str, password: &str) -> Result<Issued> {
        let found = self.catalog.user_by_name(username)?;
        let (user, hash) = match found {
            Some(f) => f,
            None => {
                let _ = verify(self.dummy_hash(), password);
                return Err(AccountError::BadCredentials);
            }
        };
        if !verify(&hash, password) {
            return Err(AccountError::BadCredentials);
        }
        // Only someone who knows the password learns that the account is disabled.
        if user.disabled {
            return Err(AccountError::Disabled);
        }
        let mut raw = [0u8; 32];
        rand::fill(&mut raw[..]);
        let token = URL_SAFE_NO_PAD.encode(raw);
        let expires_at = now_unix() + self.token_ttl_secs;
        self.catalog.create_session(user.id, &token_key(&token), expires_at)?;
        Ok(Issued { token, user, expires_at })
    }

    /// The user a bearer token belongs to, if it is live.
    pub fn authenticate(&self, token: &str) -> Result<Option<User>> {
        if token.is_empty() || token.len() > 256 {
            return Ok(None);
        }
        let key = token_key(token);
        let now = now_unix();
        let user = self.catalog.session_user(&key, now)?;
        match &user {
            Some(u) => {
                if self.recent.len() >= SESSION_CACHE_MAX {
                    self.recent.retain(|_, (_, at)| now - *at < SESSION_CACHE_SECS);
                }
                self.recent.insert(key, (u.clone(), now));
            }
            None => {
                self.recent.remove(&key);
            }
        }
        Ok(user)
    }

    /// Forgets the cached sessions and grant key of a user whose access just changed.
    pub fn forget_user(&self, id: UserId) {
        self.recent.retain(|_, (u, _)| u.id != id);
        self.grant_keys.remove(&id);
    }

    /// What a signed playback URL is bound to besides its user, track and expiry: a
    /// fingerprint of the account's password hash, which every password change (the user's
    /// own or an administrator's reset) replaces, so URLs signed before stop working; `None`
    /// for a disabled or deleted account, whose URLs open nothing. Reads the catalog (call
    /// from a blocking context) unless [`Accounts::recent_grant_key`] knows it.
    pub fn grant_key(&self, id: UserId) -> Result<Option<u64>> {
        let now = now_unix();
        let user = self.catalog.list_users()?.into_iter().find(|u| u.id == id);
        let key = match user {
            Some(u) if !u.disabled => self.catalog.user_by_name(&u.username)?.map(|(_, hash)| {
                let h = ContentHash::of(hash.as_bytes()).0;
                u64::from_le_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]])
            }),
            _ => None,
        };
        if self.grant_keys.len() >= SESSION_CACHE_MAX {
            self.grant_keys.retain(|_, (_, at)| now - *at < SESSION_CACHE_SECS);
        }
        self.grant_keys.insert(id, (key, now));
        Ok(key)
    }

    /// [`Accounts::grant_key`] read in the last [`SESSION_CACHE_SECS`], without blocking
    /// (renewed by one caller at a time, as [`Accounts::recently_authenticated`]).
    pub fn recent_grant_key(&self, id: UserId) -> Option<Option<u64>> {
        let mut e = self.grant_keys.get_mut(&id)?;
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
        let mut e = self.recent.get_mut(&key)?;
        let now = now_unix();
        if now - e.1 < SESSION_CACHE_SECS {
            return Some(e.0.clone());
        }
        e.1 = now;
        None
    }

    pub fn logout(&self, token: &str) -> Result<bool> {
        let key = token_key(token);
        self.recent.remove(&key);
        Ok(self.catalog.delete_session(&key)?)
    }
}
