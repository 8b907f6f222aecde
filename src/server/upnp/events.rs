//! GENA eventing (UPnP Device Architecture 1.1, §4): subscriptions with their callback,
//! expiry and event sequence; the initial event of every new subscription; and, every
//! [`POLL`], a `SystemUpdateID` event to the ContentDirectory subscribers of each library
//! that changed. At most [`MAX_SUBSCRIPTIONS`] live subscriptions (a new one beyond is
//! refused); callbacks are addresses on the local network only (never resolved names), each
//! `NOTIFY` bounded by a timeout and at most [`MAX_SENDING`] in flight.
//!
//! State of this process only (a subscriber of another node is that node's).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::domain::UserId;
use crate::server::markup::escape_into;
use crate::service::lan::{Lan, is_lan};

/// How long a subscription lasts without renewal (the answer's `TIMEOUT`).
pub const SUBSCRIPTION_SECS: u64 = 1800;
/// Live subscriptions at most.
pub const MAX_SUBSCRIPTIONS: usize = 256;
/// Events being delivered at once at most; beyond, an event waits for a slot.
const MAX_SENDING: usize = 16;
/// How often libraries with subscribers are checked for changes.
const POLL: Duration = Duration::from_secs(5);

/// The two evented services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    ContentDirectory,
    ConnectionManager,
}

/// Where events go: the address, the `HOST` header and the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    pub addr: SocketAddr,
    pub host: String,
    pub path: String,
}

impl Callback {
    /// The first `<http://HOST:PORT/PATH>` of a `CALLBACK` header whose HOST is an address
    /// on the local network.
    pub fn parse(header: &str) -> Option<Callback> {
        header.split('<').filter_map(|p| p.split_once('>').map(|(u, _)| u.trim())).find_map(Callback::one)
    }

    fn one(url: &str) -> Option<Callback> {
        let rest = url.strip_prefix("http://")?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let addr: SocketAddr = authority.parse().or_else(|_| format!("{authority}:80").parse()).ok()?;
        (is_lan(addr.ip()) && !path.contains(['\r', '\n', ' '])).then(|| Callback { addr, host: authority.to_string(), path: path.to_string() })
    }
}

struct Subscription {
    user: UserId,
    service: Service,
    callback: Callback,
    expires: Instant,
    /// The next event's `SEQ`.
    seq: u32,
    /// The `SystemUpdateID` last sent.
    sent: u32,
}

/// Why a subscription request is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Too many live subscriptions.
    Full,
    /// No such subscription (expired, cancelled, or never made here).
    Unknown,
}

/// The live subscriptions, and the task that events library changes to them.
pub struct Subscriptions {
    lan: Lan,
    subs: Mutex<HashMap<String, Subscription>>,
    sending: Arc<Semaphore>,
    watcher: std::sync::Once,
}

/// An event body: the variables and their values.
pub fn property_set(vars: &[(&str, String)]) -> String {
    let mut s = String::from(r#"<?xml version="1.0" encoding="utf-8"?><e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0">"#);
    for (k, v) in vars {
        s.push_str(&format!("<e:property><{k}>"));
        escape_into(v, &mut s);
        s.push_str(&format!("</{k}></e:property>"));
    }
    s.push_str("</e:propertyset>");
    s
}

impl Subscriptions {
    pub fn new(lan: Lan) -> Subscriptions {
        Subscriptions { lan, subs: Mutex::new(HashMap::new()), sending: Arc::new(Semaphore::new(MAX_SENDING)), watcher: std::sync::Once::new() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Subscription>> {
        self.subs.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A new subscription of `user`'s `service` whose evented variables are `initial`
    /// (with `update_id`, the library's `SystemUpdateID`): its SID; the initial event is on
    /// its way. Starts the change watcher on first use.
    pub fn subscribe(self: &Arc<Self>, user: UserId, service: Service, callback: Callback, update_id: u32, initial: String) -> Result<String, Refused> {
        let mut random = [0u8; 16];
        rand::fill(&mut random);
        let sid = format!("uuid:{}", crate::domain::uuid_text(random, 4));
        {
            let mut subs = self.lock();
            let now = Instant::now();
            subs.retain(|_, s| s.expires > now);
            if subs.len() >= MAX_SUBSCRIPTIONS {
                return Err(Refused::Full);
            }
            let expires = now + Duration::from_secs(SUBSCRIPTION_SECS);
            subs.insert(sid.clone(), Subscription { user, service, callback: callback.clone(), expires, seq: 1, sent: update_id });
        }
        self.send(callback, sid.clone(), 0, initial);
        let me = self.clone();
        self.watcher.call_once(move || {
            tokio::spawn(async move { me.watch().await });
        });
        Ok(sid)
    }

    /// Renews `sid` (of `service`) for another [`SUBSCRIPTION_SECS`].
    pub fn renew(&self, sid: &str, service: Service) -> Result<(), Refused> {
        let mut subs = self.lock();
        match subs.get_mut(sid) {
            Some(s) if s.service == service && s.expires > Instant::now() => {
                s.expires = Instant::now() + Duration::from_secs(SUBSCRIPTION_SECS);
                Ok(())
            }
            _ => Err(Refused::Unknown),
        }
    }

    /// Cancels `sid`.
    pub fn cancel(&self, sid: &str, service: Service) -> Result<(), Refused> {
        let mut subs = self.lock();
        match subs.get(sid) {
            Some(s) if s.service == service => {
                subs.remove(sid);
                Ok(())
            }
            _ => Err(Refused::Unknown),
        }
    }

    /// Every [`POLL`]: drops expired subscriptions, and sends `SystemUpdateID` to the
    /// ContentDirectory subscribers of each library whose id moved.
    async fn watch(self: Arc<Self>) {
        loop {
            tokio::time::sleep(POLL).await;
            let users: Vec<UserId> = {
                let mut subs = self.lock();
                let now = Instant::now();
                subs.retain(|_, s| s.expires > now);
                let mut u: Vec<UserId> = subs.values().filter(|s| s.service == Service::ContentDirectory).map(|s| s.user).collect();
                u.sort();
                u.dedup();
                u
            };
            for user in users {
                let lan = self.lan.clone();
                let Ok(Ok(id)) = tokio::task::spawn_blocking(move || lan.update_id(user)).await else { continue };
                let due: Vec<(Callback, String, u32)> = {
                    let mut subs = self.lock();
                    subs.iter_mut()
                        .filter(|(_, s)| s.user == user && s.service == Service::ContentDirectory && s.sent != id)
                        .map(|(sid, s)| {
                            s.sent = id;
                            let seq = s.seq;
                            // SEQ wraps to 1, never back to 0 (which only the initial event has).
                            s.seq = s.seq.checked_add(1).unwrap_or(1);
                            (s.callback.clone(), sid.clone(), seq)
                        })
                        .collect()
                };
                for (callback, sid, seq) in due {
                    self.send(callback, sid, seq, property_set(&[("SystemUpdateID", id.to_string())]));
                }
            }
        }
    }

    /// Sends one `NOTIFY` in the background, giving up after a few seconds.
    fn send(&self, callback: Callback, sid: String, seq: u32, body: String) {
        let sending = self.sending.clone();
        tokio::spawn(async move {
            let Ok(_slot) = sending.acquire_owned().await else { return };
            deliver(callback, sid, seq, body).await;
        });
    }
}

async fn deliver(cb: Callback, sid: String, seq: u32, body: String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let request = format!(
        "NOTIFY {} HTTP/1.1\r\nHOST: {}\r\nCONTENT-TYPE: text/xml; charset=\"utf-8\"\r\nNT: upnp:event\r\nNTS: upnp:propchange\r\nSID: {sid}\r\nSEQ: {seq}\r\nCONTENT-LENGTH: {}\r\nCONNECTION: close\r\n\r\n{body}",
        cb.path,
        cb.host,
        body.len()
    );
    let send = async {
        let mut s = tokio::net::TcpStream::connect(cb.addr).await?;
        s.write_all(request.as_bytes()).await?;
        let mut answer = [0u8; 256];
        let _ = s.read(&mut answer).await?;
        Ok::<_, std::io::Error>(())
    };
    match tokio::time::timeout(Duration::from_secs(5), send).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(addr = %cb.addr, error = %e, "UPnP: the event callback did not take the event"),
        Err(_) => tracing::debug!(addr = %cb.addr, "UPnP: the event callback timed out"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks_must_be_local_addresses() {
        let c = Callback::parse("<http://192.168.1.5:49152/evt>").unwrap();
        assert_eq!((c.addr, c.host.as_str(), c.path.as_str()), ("192.168.1.5:49152".parse().unwrap(), "192.168.1.5:49152", "/evt"));
        assert_eq!(Callback::parse("<http://10.0.0.2/>").map(|c| c.addr), Some("10.0.0.2:80".parse().unwrap()));
        // The first usable URL of several.
        assert_eq!(Callback::parse("<http://8.8.8.8/x><http://10.0.0.3:5000/y>").map(|c| c.path), Some("/y".into()));
        for bad in
            ["<http://8.8.8.8:80/x>", "<http://example.com/x>", "<https://10.0.0.1/x>", "<http://10.0.0.1:80/a b>", "<ftp://10.0.0.1/>", "http://10.0.0.1/"]
        {
            assert_eq!(Callback::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn property_sets_escape() {
        assert_eq!(
            property_set(&[("A", "<1>".into())]),
            r#"<?xml version="1.0" encoding="utf-8"?><e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0"><e:property><A>&lt;1&gt;</A></e:property></e:propertyset>"#
        );
    }
}
