//! Login throttling: failed sign-ins are counted per username and per client address in a
//! sliding window; past the limit, further attempts are refused with 429 and `Retry-After`
//! before any password is checked (so a locked account costs no argon2 time). A successful
//! sign-in clears the username's count.

use std::net::IpAddr;

use dashmap::DashMap;

use crate::domain::now_unix;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub per_user: u32,
    pub per_address: u32,
    /// The window failures are counted in, and how long a lockout lasts, in seconds.
    pub window_secs: i64,
}

#[derive(Default)]
pub struct LoginThrottle {
    users: DashMap<String, (u32, i64)>,
    addresses: DashMap<IpAddr, (u32, i64)>,
}

/// Most entries kept before stale ones are dropped (bounds memory under a spray of names).
const MAX_ENTRIES: usize = 100_000;

impl LoginThrottle {
    /// `Err(seconds)` to wait when `user` or `addr` is locked out.
    pub fn check(&self, limits: &Limits, user: &str, addr: Option<IpAddr>) -> Result<(), u32> {
        let now = now_unix();
        let wait = |count: u32, since: i64, limit: u32| -> Option<u32> {
            (count >= limit && now - since < limits.window_secs).then(|| (limits.window_secs - (now - since)).max(1) as u32)
        };
        if let Some(w) = self.users.get(&user.to_lowercase()).and_then(|e| wait(e.0, e.1, limits.per_user)) {
            return Err(w);
        }
        if let Some(w) = addr.and_then(|a| self.addresses.get(&a)).and_then(|e| wait(e.0, e.1, limits.per_address)) {
            return Err(w);
        }
        Ok(())
    }

    pub fn failed(&self, limits: &Limits, user: &str, addr: Option<IpAddr>) {
        let now = now_unix();
        let bump = |e: &mut (u32, i64)| {
            if now - e.1 >= limits.window_secs {
                *e = (0, now);
            }
            e.0 += 1;
        };
        if self.users.len() > MAX_ENTRIES {
            self.users.retain(|_, e| now - e.1 < limits.window_secs);
        }
        if self.addresses.len() > MAX_ENTRIES {
            self.addresses.retain(|_, e| now - e.1 < limits.window_secs);
        }
        bump(&mut self.users.entry(user.to_lowercase()).or_insert((0, now)));
        if let Some(a) = addr {
            bump(&mut self.addresses.entry(a).or_insert((0, now)));
        }
    }

    pub fn succeeded(&self, user: &str) {
        self.users.remove(&user.to_lowercase());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_per_user_and_per_address() {
        let l = Limits { per_user: 3, per_address: 5, window_secs: 60 };
        let t = LoginThrottle::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(t.check(&l, "alice", Some(a)).is_ok());
            t.failed(&l, "alice", Some(a));
        }
        assert!(t.check(&l, "Alice", Some(b)).is_err(), "the user is locked from any address");
        assert!(t.check(&l, "bob", Some(a)).is_ok());
        t.failed(&l, "bob", Some(a));
        t.failed(&l, "carol", Some(a));
        assert!(t.check(&l, "dave", Some(a)).is_err_and(|w| w > 0 && w <= 60), "the address is locked for everyone");
        assert!(t.check(&l, "dave", Some(b)).is_ok());
        t.succeeded("bob");
        assert!(t.check(&l, "bob", Some(b)).is_ok());
    }
}
