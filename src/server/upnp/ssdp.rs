//! SSDP (UPnP Device Architecture 1.1, §1): one thread on the SSDP port that answers
//! `M-SEARCH` from the local network for the shared libraries' devices (each a MediaServer
//! with a ContentDirectory and a ConnectionManager), announces them with `NOTIFY
//! ssdp:alive` at start, every [`ANNOUNCE_EVERY`] and when a library is shared, and says
//! `ssdp:byebye` when one stops being shared or the server stops.
//!
//! Multicast goes out of the interfaces the HTTP server listens on (all IPv4 interfaces
//! for `0.0.0.0`; only loopback for `127.0.0.1`, so a server on loopback never announces
//! itself to the network). Answers go only to peers on the local network, each after the
//! random delay within `MX` the spec asks for, from a bounded queue; a datagram that is
//! not a well-formed search is ignored. Blocking, on its own thread: never on the executor.

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use crate::service::lan::{Lan, Shared, is_lan};

/// The SSDP multicast group.
const GROUP: Ipv4Addr = Ipv4Addr::new(239, 255, 255, 250);
/// How long an announcement is valid (the spec's minimum is 1800 s).
pub const MAX_AGE: u64 = 1800;
/// Announcements are repeated well within their validity.
const ANNOUNCE_EVERY: Duration = Duration::from_secs(MAX_AGE / 3);
/// How often the shared libraries are looked up again.
const REFRESH_EVERY: Duration = Duration::from_secs(5);
/// Answers waiting for their delay at most; searches beyond that are dropped.
const MAX_PENDING: usize = 256;
/// The longest wait an `MX` may ask for (UDA 1.1: at most 5 s).
const MAX_MX: u64 = 5;

pub const DEVICE: &str = "urn:schemas-upnp-org:device:MediaServer:1";
pub const CONTENT_DIRECTORY: &str = "urn:schemas-upnp-org:service:ContentDirectory:1";
pub const CONNECTION_MANAGER: &str = "urn:schemas-upnp-org:service:ConnectionManager:1";

/// The `SERVER` header: OS, UPnP version, product.
pub fn server_header() -> String {
    format!("Linux/1.0 UPnP/1.0 Tonearm/{}", env!("CARGO_PKG_VERSION"))
}

/// Where the description of `uuid`'s device is, relative to the origin.
pub fn description_path(uuid: &str) -> String {
    format!("/upnp/{uuid}/description.xml")
}

/// The running SSDP thread; [`Ssdp::stop`] says byebye and ends it.
pub struct Ssdp {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ssdp {
    /// Binds `port` on every address and starts answering for the HTTP server at `http`.
    pub fn start(lan: Lan, http: SocketAddr, port: u16) -> io::Result<Ssdp> {
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_reuse_address(true)?;
        socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())?;
        socket.set_multicast_ttl_v4(2)?;
        socket.set_multicast_loop_v4(true)?;
        let interfaces = interfaces(http.ip());
        for ip in &interfaces {
            if let Err(e) = socket.join_multicast_v4(&GROUP, ip) {
                tracing::debug!(%ip, error = %e, "SSDP: cannot join the multicast group on this interface; answering unicast searches only there");
            }
        }
        let socket: UdpSocket = socket.into();
        socket.set_read_timeout(Some(Duration::from_millis(500)))?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut state = State { lan, http, port, socket, interfaces, devices: Vec::new(), pending: BTreeMap::new(), seq: 0 };
        let flag = stop.clone();
        let thread = std::thread::Builder::new().name("ssdp".into()).spawn(move || state.run(&flag))?;
        tracing::info!(port, "UPnP/DLNA: answering SSDP searches");
        Ok(Ssdp { stop, thread: Some(thread) })
    }

    /// Says `ssdp:byebye` for every device and ends the thread.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct State {
    lan: Lan,
    http: SocketAddr,
    port: u16,
    socket: UdpSocket,
    interfaces: Vec<Ipv4Addr>,
    devices: Vec<Shared>,
    /// Answers by the time they are due (and a sequence number, for equal times).
    pending: BTreeMap<(Instant, u64), (SocketAddr, Vec<u8>)>,
    seq: u64,
}

/// The notification types (and search targets) of one device: the root device, the device
/// itself, its type and its two services.
fn targets(uuid: &str) -> [String; 5] {
    ["upnp:rootdevice".into(), format!("uuid:{uuid}"), DEVICE.into(), CONTENT_DIRECTORY.into(), CONNECTION_MANAGER.into()]
}

fn usn(uuid: &str, target: &str) -> String {
    if target.starts_with("uuid:") { target.to_string() } else { format!("uuid:{uuid}::{target}") }
}

/// Whether a search target `st` asks for `target` (a type of a version at most ours
/// matches: UDA 1.1 §1.3.2).
fn wants(st: &str, target: &str) -> bool {
    if st == "ssdp:all" || st == target {
        return true;
    }
    match (st.rsplit_once(':'), target.rsplit_once(':')) {
        (Some((a, va)), Some((b, vb))) if a == b && a.starts_with("urn:") => match (va.parse::<u32>(), vb.parse::<u32>()) {
            (Ok(asked), Ok(ours)) => asked <= ours,
            _ => false,
        },
        _ => false,
    }
}

/// A search: its target and `MX` (none: a unicast search, answered at once).
#[derive(Debug, PartialEq)]
pub struct Search {
    pub st: String,
    pub mx: Option<u64>,
}

/// Reads an `M-SEARCH` datagram; anything else is `None`.
pub fn parse_search(datagram: &[u8]) -> Option<Search> {
    let text = std::str::from_utf8(datagram).ok()?;
    let mut lines = text.split("\r\n").flat_map(|l| l.split('\n'));
    let first = lines.next()?.trim();
    if !first.eq_ignore_ascii_case("M-SEARCH * HTTP/1.1") {
        return None;
    }
    let (mut st, mut mx, mut man) = (None, None, false);
    for line in lines {
        let Some((k, v)) = line.split_once(':') else { continue };
        let v = v.trim();
        match k.trim().to_ascii_lowercase().as_str() {
            "st" => st = Some(v.to_string()),
            "mx" => mx = Some(v.parse::<u64>().ok()?),
            "man" => man = v.trim_matches('"') == "ssdp:discover",
            _ => {}
        }
    }
    (man && st.as_ref().is_some_and(|s| !s.is_empty())).then(|| Search { st: st.unwrap_or_default(), mx })
}

impl State {
    fn run(&mut self, stop: &AtomicBool) {
        let mut buf = [0u8; 2048];
        let mut refreshed: Option<Instant> = None;
        let mut announced = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            if refreshed.is_none_or(|t| t.elapsed() >= REFRESH_EVERY) {
                refreshed = Some(Instant::now());
                self.refresh();
            }
            if announced.elapsed() >= ANNOUNCE_EVERY {
                announced = Instant::now();
                for d in self.devices.clone() {
                    self.notify(&d, true);
                }
            }
            self.send_due();
            match self.socket.recv_from(&mut buf) {
                Ok((n, peer)) => self.on_datagram(&buf[..n], peer),
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "SSDP: receiving failed");
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
        for d in self.devices.clone() {
            self.notify(&d, false);
        }
    }

    /// Looks the shared libraries up again: announces new ones, says byebye for the gone.
    fn refresh(&mut self) {
        let now = match self.lan.shared() {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "SSDP: cannot read the shared libraries");
                return;
            }
        };
        for gone in self.devices.iter().filter(|d| !now.contains(d)).cloned().collect::<Vec<_>>() {
            self.notify(&gone, false);
        }
        for new in now.iter().filter(|d| !self.devices.contains(d)).cloned().collect::<Vec<_>>() {
            tracing::info!(user = %new.username, uuid = %new.uuid, "UPnP/DLNA: announcing a shared library");
            self.notify(&new, true);
        }
        self.devices = now;
    }

    /// The HTTP origin a peer reaches this server at: the listening address, or (listening
    /// on every address) the local address that routes to the peer.
    fn origin_for(&self, peer: IpAddr) -> Option<SocketAddr> {
        if !self.http.ip().is_unspecified() {
            return Some(self.http);
        }
        let probe = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
        probe.connect((peer, 9)).ok()?;
        Some(SocketAddr::new(probe.local_addr().ok()?.ip(), self.http.port()))
    }

    fn on_datagram(&mut self, datagram: &[u8], peer: SocketAddr) {
        if !is_lan(peer.ip()) {
            return;
        }
        let Some(search) = parse_search(datagram) else { return };
        let Some(origin) = self.origin_for(peer.ip()) else { return };
        let delay = match search.mx {
            None | Some(0) => Duration::ZERO,
            Some(mx) => Duration::from_millis(rand::random_range(0..mx.min(MAX_MX) * 1000)),
        };
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        for d in &self.devices {
            for target in targets(&d.uuid) {
                if !wants(&search.st, &target) {
                    continue;
                }
                // A search for a type or a version is answered with the target it asked for.
                let st = if search.st == "ssdp:all" { target.clone() } else { search.st.clone() };
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age={MAX_AGE}\r\nDATE: {date}\r\nEXT:\r\nLOCATION: http://{origin}{}\r\nSERVER: {}\r\nST: {st}\r\nUSN: {}\r\nCONTENT-LENGTH: 0\r\n\r\n",
                    description_path(&d.uuid),
                    server_header(),
                    usn(&d.uuid, &target)
                );
                if self.pending.len() >= MAX_PENDING {
                    return;
                }
                self.seq += 1;
                self.pending.insert((Instant::now() + delay, self.seq), (peer, answer.into_bytes()));
            }
        }
        self.send_due();
    }

    fn send_due(&mut self) {
        let now = Instant::now();
        while let Some(entry) = self.pending.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (peer, bytes) = entry.remove();
            if let Err(e) = self.socket.send_to(&bytes, peer) {
                tracing::debug!(%peer, error = %e, "SSDP: answering a search failed");
            }
        }
    }

    /// `ssdp:alive` (with the location) or `ssdp:byebye` for every target of `d`, out of
    /// every interface.
    fn notify(&self, d: &Shared, alive: bool) {
        let group = SocketAddr::V4(SocketAddrV4::new(GROUP, self.port));
        // A second descriptor of the same socket, to choose the outgoing interface.
        let sock = Socket::from(match self.socket.try_clone() {
            Ok(s) => s,
            Err(_) => return,
        });
        for ip in &self.interfaces {
            if sock.set_multicast_if_v4(ip).is_err() {
                continue;
            }
            let origin = if self.http.ip().is_unspecified() { SocketAddr::new(IpAddr::V4(*ip), self.http.port()) } else { self.http };
            for target in targets(&d.uuid) {
                let msg = if alive {
                    format!(
                        "NOTIFY * HTTP/1.1\r\nHOST: {GROUP}:{}\r\nCACHE-CONTROL: max-age={MAX_AGE}\r\nLOCATION: http://{origin}{}\r\nNT: {target}\r\nNTS: ssdp:alive\r\nSERVER: {}\r\nUSN: {}\r\n\r\n",
                        self.port,
                        description_path(&d.uuid),
                        server_header(),
                        usn(&d.uuid, &target)
                    )
                } else {
                    format!("NOTIFY * HTTP/1.1\r\nHOST: {GROUP}:{}\r\nNT: {target}\r\nNTS: ssdp:byebye\r\nUSN: {}\r\n\r\n", self.port, usn(&d.uuid, &target))
                };
                if let Err(e) = sock.send_to(msg.as_bytes(), &group.into()) {
                    tracing::debug!(%ip, error = %e, "SSDP: announcing failed on this interface");
                }
            }
        }
    }
}

/// The IPv4 interfaces to announce on for an HTTP server bound to `bind`: that address's
/// own, or every interface that is up (loopback only when listening on loopback).
fn interfaces(bind: IpAddr) -> Vec<Ipv4Addr> {
    match bind {
        IpAddr::V4(v4) if !v4.is_unspecified() => vec![v4],
        IpAddr::V6(v6) if v6.is_loopback() => vec![Ipv4Addr::LOCALHOST],
        _ => {
            let all = up_interfaces();
            let outside: Vec<Ipv4Addr> = all.iter().copied().filter(|ip| !ip.is_loopback()).collect();
            if outside.is_empty() { all } else { outside }
        }
    }
}

/// The IPv4 addresses of interfaces that are up and can multicast (loopback included).
fn up_interfaces() -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below; we only read it in between.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return out;
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*cur };
        let flags = ifa.ifa_flags;
        let up = flags & libc::IFF_UP as u32 != 0;
        let usable = flags & libc::IFF_MULTICAST as u32 != 0 || flags & libc::IFF_LOOPBACK as u32 != 0;
        if up && usable && !ifa.ifa_addr.is_null() {
            // SAFETY: ifa_addr is non-null and points at a sockaddr of family sa_family.
            let family = unsafe { (*ifa.ifa_addr).sa_family };
            if i32::from(family) == libc::AF_INET {
                // SAFETY: an AF_INET address is a sockaddr_in.
                let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                out.push(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches_parse() {
        let s = parse_search(b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 2\r\nST: ssdp:all\r\n\r\n").unwrap();
        assert_eq!(s, Search { st: "ssdp:all".into(), mx: Some(2) });
        let unicast =
            parse_search(b"M-SEARCH * HTTP/1.1\r\nHOST: 127.0.0.1:1900\r\nMAN: \"ssdp:discover\"\r\nST: urn:schemas-upnp-org:device:MediaServer:1\r\n\r\n")
                .unwrap();
        assert_eq!(unicast.mx, None);
        for bad in [
            &b"NOTIFY * HTTP/1.1\r\nNT: x\r\n\r\n"[..],
            b"M-SEARCH * HTTP/1.1\r\nST: ssdp:all\r\n\r\n",
            b"M-SEARCH * HTTP/1.1\r\nMAN: \"ssdp:discover\"\r\nMX: x\r\nST: a\r\n\r\n",
            b"\xff\xfe",
        ] {
            assert_eq!(parse_search(bad), None);
        }
    }

    #[test]
    fn targets_match_by_type_and_version() {
        assert!(wants("ssdp:all", DEVICE));
        assert!(wants("urn:schemas-upnp-org:device:MediaServer:1", DEVICE));
        assert!(!wants("urn:schemas-upnp-org:device:MediaServer:2", DEVICE));
        assert!(!wants("urn:schemas-upnp-org:device:MediaRenderer:1", DEVICE));
        assert!(wants("uuid:abc", "uuid:abc") && !wants("uuid:abd", "uuid:abc"));
        assert_eq!(usn("abc", "upnp:rootdevice"), "uuid:abc::upnp:rootdevice");
        assert_eq!(usn("abc", "uuid:abc"), "uuid:abc");
    }

    #[test]
    fn loopback_servers_announce_on_loopback_only() {
        assert_eq!(interfaces("127.0.0.1".parse().unwrap()), vec![Ipv4Addr::LOCALHOST]);
        assert_eq!(interfaces("10.1.2.3".parse().unwrap()), vec![Ipv4Addr::new(10, 1, 2, 3)]);
    }
}
