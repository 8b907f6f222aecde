//! Sign-in throttling: failed sign-ins are counted per username and per client address in
//! a window (kept by the coordination seam, so every node counts the same failures); past
//! the limit, further attempts are refused with the seconds to wait before any password is
//! checked (so a locked account costs no argon2 time). A successful sign-in clears the
//! username's count. Every protocol's sign-in goes through [`Throttle`].
//!
//! Depends on `coord`; knows nothing of HTTP.

use std::net::IpAddr;

use crate::coord::Coordination;
use crate::domain::now_unix;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub per_user: u32,
    pub per_address: u32,
    /// The window failures are counted in, and how long a lockout lasts, in seconds.
    pub window_secs: i64,
}

pub struct Throttle<'a> {
    pub coord: &'a dyn Coordination,
    pub limits: Limits,
}

fn user_key(user: &str) -> String {
    format!("login-user:{}", user.to_lowercase())
}

fn addr_key(addr: IpAddr) -> String {
    format!("login-addr:{addr}")
}

/// Seconds left of a lockout after `count` failures since `since`, if `limit` is reached.
fn wait(count: u32, since: i64, limit: u32, window_secs: i64, now: i64) -> Option<u32> {
    (count > 0 && count >= limit && now - since < window_secs).then(|| (window_secs - (now - since)).max(1) as u32)
}

impl Throttle<'_> {
    /// `Err(seconds)` to wait when `user` or `addr` is locked out.
    pub fn check(&self, user: &str, addr: Option<IpAddr>) -> Result<(), u32> {
        let (l, now) = (self.limits, now_unix());
        let (n, since) = self.coord.window(&user_key(user), l.window_secs);
        if let Some(w) = wait(n, since, l.per_user, l.window_secs, now) {
            return Err(w);
        }
        if let Some(a) = addr {
            let (n, since) = self.coord.window(&addr_key(a), l.window_secs);
            if let Some(w) = wait(n, since, l.per_address, l.window_secs, now) {
                return Err(w);
            }
        }
        Ok(())
    }

    pub fn failed(&self, user: &str, addr: Option<IpAddr>) {
        self.coord.bump(&user_key(user), self.limits.window_secs);
        if let Some(a) = addr {
            self.coord.bump(&addr_key(a), self.limits.window_secs);
        }
    }

    /// The address's window alone (for credentials that name no user, such as API keys).
    pub fn check_address(&self, addr: Option<IpAddr>) -> Result<(), u32> {
        let (l, now) = (self.limits, now_unix());
        match addr {
            Some(a) => {
                let (n, since) = self.coord.window(&addr_key(a), l.window_secs);
                wait(n, since, l.per_address, l.window_secs, now).map_or(Ok(()), Err)
            }
            None => Ok(()),
        }
    }

    pub fn failed_address(&self, addr: Option<IpAddr>) {
        if let Some(a) = addr {
            self.coord.bump(&addr_key(a), self.limits.window_secs);
        }
    }

    pub fn succeeded(&self, user: &str) {
        self.coord.clear(&user_key(user));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_per_user_and_per_address() {
        let coord = crate::coord::Local::default();
        let t = Throttle { coord: &coord, limits: Limits { per_user: 3, per_address: 5, window_secs: 60 } };
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(t.check("alice", Some(a)).is_ok());
            t.failed("alice", Some(a));
        }
        assert!(t.check("Alice", Some(b)).is_err(), "the user is locked from any address");
        assert!(t.check("bob", Some(a)).is_ok());
        t.failed("bob", Some(a));
        t.failed("carol", Some(a));
        assert!(t.check("dave", Some(a)).is_err_and(|w| w > 0 && w <= 60), "the address is locked for everyone");
        assert!(t.check("dave", Some(b)).is_ok());
        t.succeeded("bob");
        assert!(t.check("bob", Some(b)).is_ok());
    }

    #[test]
    fn a_lockout_ends_with_its_window() {
        assert_eq!(wait(3, 100, 3, 60, 130), Some(30));
        assert_eq!(wait(3, 100, 3, 60, 160), None);
        assert_eq!(wait(2, 100, 3, 60, 130), None);
        assert_eq!(wait(3, 100, 3, 60, 159), Some(1));
        assert_eq!(wait(0, 100, 0, 60, 130), None, "a limit of 0 with no failures locks nobody out");
    }
}
