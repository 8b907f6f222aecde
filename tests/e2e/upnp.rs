//! The UPnP/DLNA MediaServer against real third parties: a unicast SSDP search on loopback,
//! async-upnp-client (the control point library Home Assistant uses) browsing, paging,
//! searching and subscribing, DLNA's stream headers judged by hand and by ffprobe, and, in
//! a network namespace of the test's own (loopback and a veth pair: nothing leaves the
//! machine), SSDP multicast discovery and gmediarender (GStreamer's UPnP renderer) playing a
//! pushed track to its end after a seek.

use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{Env, Server, testdata, tone_wav};

const PW: &str = "correct horse";

fn python() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py/.venv/bin/python");
    assert!(p.exists(), "run scripts/bootstrap.sh --test (it installs tests/py/requirements.txt)");
    p
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py/upnp_control.py")
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Sends a unicast M-SEARCH for `st` to 127.0.0.1:`port`; the answers within `wait`.
fn search(port: u16, st: &str, wait: Duration) -> Vec<String> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let msg = format!("M-SEARCH * HTTP/1.1\r\nHOST: 127.0.0.1:{port}\r\nMAN: \"ssdp:discover\"\r\nST: {st}\r\n\r\n");
    sock.send_to(msg.as_bytes(), ("127.0.0.1", port)).unwrap();
    let mut out = Vec::new();
    let end = Instant::now() + wait;
    let mut buf = [0u8; 2048];
    while Instant::now() < end {
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    out
}

fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    answer.lines().find_map(|l| l.split_once(':').filter(|(k, _)| k.trim().eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()))
}

fn library_env() -> Env {
    let env = Env::new();
    env.add_user("alice", PW);
    env.add_user("bob", PW);
    env.import("alice", &[testdata("library")]);
    env
}

fn serve_upnp(env: &Env, port: u16) -> Server {
    let p = port.to_string();
    env.serve_with(&[("TONEARM_UPNP__ENABLED", "true"), ("TONEARM_UPNP__SSDP_PORT", p.as_str())])
}

/// The SOAP envelope of one ContentDirectory action.
fn soap(action: &str, args: &str) -> String {
    format!(
        r#"<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:{action} xmlns:u="urn:schemas-upnp-org:service:ContentDirectory:1">{args}</u:{action}></s:Body></s:Envelope>"#
    )
}

fn control(s: &Server, uuid: &str, action: &str, args: &str) -> (u16, String) {
    let r = s
        .http
        .post(s.url(&format!("/upnp/{uuid}/control/ContentDirectory")))
        .header("content-type", "text/xml; charset=\"utf-8\"")
        .header("soapaction", format!("\"urn:schemas-upnp-org:service:ContentDirectory:1#{action}\""))
        .body(soap(action, args))
        .send()
        .unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

#[test]
fn upnp_is_off_unless_enabled_and_shared() {
    let env = library_env();
    let port = free_udp_port();
    // Off by default: no routes, nothing answers on the SSDP port.
    {
        let s = env.serve_with(&[("TONEARM_UPNP__SSDP_PORT", port.to_string().as_str())]);
        assert_eq!(s.http.get(s.url("/upnp/x/description.xml")).send().unwrap().status(), 404);
        assert!(search(port, "ssdp:all", Duration::from_millis(600)).is_empty());
    }
    // On, but nobody shares: searches go unanswered.
    let s = serve_upnp(&env, port);
    assert!(search(port, "urn:schemas-upnp-org:device:MediaServer:1", Duration::from_millis(600)).is_empty());
    let out = env.ok(&["user", "upnp", "alice", "on"], None);
    assert!(out.contains("uuid:"), "{out}");
    // The server looks the shared libraries up every few seconds.
    let started = Instant::now();
    let answers = loop {
        let a = search(port, "urn:schemas-upnp-org:device:MediaServer:1", Duration::from_millis(500));
        if !a.is_empty() || started.elapsed() > Duration::from_secs(15) {
            break a;
        }
    };
    assert_eq!(answers.len(), 1, "{answers:?}");
    let a = &answers[0];
    assert!(a.starts_with("HTTP/1.1 200 OK\r\n"), "{a}");
    assert_eq!(header(a, "ST"), Some("urn:schemas-upnp-org:device:MediaServer:1"));
    let location = header(a, "LOCATION").unwrap();
    assert!(location.starts_with(&s.base) && location.ends_with("/description.xml"), "{location} vs {}", s.base);
    let usn = header(a, "USN").unwrap();
    assert!(usn.starts_with("uuid:") && usn.ends_with("::urn:schemas-upnp-org:device:MediaServer:1"), "{usn}");
    assert!(header(a, "CACHE-CONTROL").unwrap().contains("max-age=1800"));
    // ssdp:all: the root device, the device, its type and its two services.
    assert_eq!(search(port, "ssdp:all", Duration::from_millis(500)).len(), 5);
    // A renderer search is not ours.
    assert!(search(port, "urn:schemas-upnp-org:device:MediaRenderer:1", Duration::from_millis(400)).is_empty());
    // Turned off again: the device goes away.
    env.ok(&["user", "upnp", "alice", "off"], None);
    let started = Instant::now();
    while !search(port, "upnp:rootdevice", Duration::from_millis(400)).is_empty() {
        assert!(started.elapsed() < Duration::from_secs(15), "the device stayed after `user upnp alice off`");
    }
    assert_eq!(s.http.get(location).send().unwrap().status(), 404);
    // An unknown user is a clear error.
    let o = env.cli(&["user", "upnp", "nobody", "on"], None);
    assert!(!o.status.success());
}

#[test]
fn a_control_point_browses_searches_and_plays_the_shared_library() {
    let env = library_env();
    env.ok(&["user", "upnp", "alice", "on"], None);
    let port = free_udp_port();
    let s = serve_upnp(&env, port);
    s.wait_measured("alice", PW);
    let answers = search(port, "urn:schemas-upnp-org:device:MediaServer:1", Duration::from_millis(500));
    let location = header(&answers[0], "LOCATION").unwrap().to_string();
    let uuid = location.split('/').nth_back(1).unwrap().to_string();

    let out = Command::new(python()).arg(script()).args(["browse", &location]).output().unwrap();
    assert!(out.status.success(), "control point failed: {}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["friendly_name"], "Tonearm (alice)");
    assert_eq!(r["udn"], format!("uuid:{uuid}"));
    assert_eq!(r["device_type"], "urn:schemas-upnp-org:device:MediaServer:1");
    assert_eq!(r["subscribed"], true, "{r}");
    assert!(r["events"].as_array().unwrap().iter().any(|e| e.get("SystemUpdateID").is_some()), "no initial event: {}", r["events"]);
    assert!(r["search_caps"].as_array().unwrap().iter().any(|c| c == "dc:title"));
    let source: Vec<&str> = r["protocol_info"]["source"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(source.contains(&"http-get:*:audio/mpeg:DLNA.ORG_PN=MP3") && source.contains(&"http-get:*:audio/x-flac:*"), "{source:?}");

    // The root: five folders, each a container with its size.
    let root: Vec<&str> = r["root"].as_array().unwrap().iter().map(|o| o["title"].as_str().unwrap()).collect();
    assert_eq!(root, ["Artists", "Albums", "Playlists", "Recently added", "Favourites"]);
    assert_eq!(r["root_total"], 5);
    assert_eq!(r["root_meta"]["parent_id"], "-1");
    let folders = &r["folders"];
    let albums = folders["albums"]["items"].as_array().unwrap();
    let lib = s.json(&s.login("alice", PW), "/api/v1/albums?limit=100");
    assert_eq!(folders["albums"]["total"], lib["total"]);
    assert_eq!(albums.len() as u64, lib["total"].as_u64().unwrap());
    assert!(albums.iter().all(|a| a["class"] == "object.container.album.musicAlbum" && a["parent_id"] == "albums"));
    let homogenic = albums.iter().find(|a| a["title"] == "Homogenic").expect("Homogenic listed");
    assert_eq!(homogenic["artist"], "Björk");
    assert_eq!(homogenic["child_count"], "2");
    assert!(homogenic["art"].as_str().is_some_and(|u| u.contains("/cover?size=160&u=")), "{homogenic}");
    assert!(folders["artists"]["items"].as_array().unwrap().iter().all(|a| a["class"] == "object.container.person.musicArtist"));
    assert_eq!(folders["recent"]["total"], folders["albums"]["total"]);
    assert_eq!(folders["favourites"]["total"], 0);
    assert_eq!(folders["playlists"]["total"], 0);
    // Paging one by one gives every album once, in the order of the whole listing.
    let pages = r["album_pages"].as_array().unwrap();
    let paged: Vec<&str> = pages.iter().map(|p| p["ids"][0].as_str().unwrap()).collect();
    let whole: Vec<&str> = albums.iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(paged, whole);
    assert!(pages.iter().all(|p| p["returned"] == 1 && p["total"] == folders["albums"]["total"]));

    // Artist → albums → tracks, each track with its tags, its art and three resources.
    let tracks = r["album_tracks"].as_array().unwrap();
    assert!(!tracks.is_empty());
    let t = &r["track_meta"];
    assert_eq!(t["class"], "object.item.audioItem.musicTrack");
    assert_eq!(t["id"], tracks[0]["id"]);
    assert_eq!(t["parent_id"], r["album_meta"]["id"]);
    assert!(t["artist"].is_string() && t["album"].is_string());
    let res = t["res"].as_array().unwrap();
    assert!(res.len() >= 2, "{t}");
    for x in res {
        let pi = x["protocol_info"].as_str().unwrap();
        assert!(pi.starts_with("http-get:*:") && pi.contains("DLNA.ORG_OP=") && pi.contains("DLNA.ORG_FLAGS=01700000000000000000000000000000"), "{pi}");
        assert!(x["duration"].as_str().unwrap().starts_with("0:00:"), "{x}");
    }

    // Search: by title word, by artist, by class; and nothing.
    let searches = &r["searches"];
    let word = r["searched_word"].as_str().unwrap().to_lowercase();
    let by_title = searches["title"]["items"].as_array().unwrap();
    assert!(
        !by_title.is_empty()
            && by_title.iter().all(|o| o["class"] == "object.item.audioItem.musicTrack" && o["title"].as_str().unwrap().to_lowercase().contains(&word))
    );
    let by_artist = searches["artist"]["items"].as_array().unwrap();
    assert!(by_artist.iter().any(|o| o["class"] == "object.item.audioItem.musicTrack"));
    assert_eq!(searches["albums"]["total"], folders["albums"]["total"]);
    let all_tracks = s.json(&s.login("alice", PW), "/api/v1/tracks?limit=1")["total"].clone();
    assert_eq!(searches["all_tracks"]["total"], all_tracks);
    assert_eq!(searches["nothing"]["total"], 0);
    // Errors are UPnP's own codes.
    let e = &r["errors"];
    assert_eq!(e["no_such_object"], 701);
    assert_eq!(e["bad_object_id"], 701);
    assert_eq!(e["children_of_a_track"], 710);
    assert_eq!(e["bad_criteria"], 708);

    // The stream URLs: DLNA's headers, a time seek mapped to bytes, ffprobe's judgement.
    let mp3 = res.iter().find(|x| x["protocol_info"].as_str().unwrap().starts_with("http-get:*:audio/mpeg:DLNA.ORG_PN=MP3;")).expect("an MP3 resource");
    let pi = mp3["protocol_info"].as_str().unwrap();
    assert!(pi.contains("DLNA.ORG_OP=11;DLNA.ORG_CI=1;"), "{pi}");
    let url = mp3["uri"].as_str().unwrap();
    let head = s.http.head(url).header("getcontentFeatures.dlna.org", "1").header("transferMode.dlna.org", "Streaming").send().unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["contentfeatures.dlna.org"].to_str().unwrap(), pi.splitn(4, ':').nth(3).unwrap());
    assert_eq!(head.headers()["transfermode.dlna.org"], "Streaming");
    let len: u64 = head.headers()["content-length"].to_str().unwrap().parse().unwrap();
    assert_eq!(mp3["size"].as_str().map(|v| v.parse::<u64>().unwrap()), Some(len), "the DIDL size is the stream's length");
    let whole = s.http.get(url).send().unwrap().bytes().unwrap();
    assert_eq!(whole.len() as u64, len);
    let seek = s.http.get(url).header("TimeSeekRange.dlna.org", "npt=1.0-").header("transferMode.dlna.org", "Streaming").send().unwrap();
    assert_eq!(seek.status(), 206);
    let answered = seek.headers()["timeseekrange.dlna.org"].to_str().unwrap().to_string();
    let range = seek.headers()["content-range"].to_str().unwrap().to_string();
    let body = seek.bytes().unwrap();
    let start: usize = range.trim_start_matches("bytes ").split('-').next().unwrap().parse().unwrap();
    assert!(answered.starts_with("npt=1.000-") && answered.contains(&format!("bytes={start}-")), "{answered}");
    assert_eq!(&body[..], &whole[start..], "a time seek answers the very bytes of the whole stream");
    // 1 s into a 320 kbps CBR MP3 at 48 kHz (960-byte frames of 1152 samples): about 40 kB
    // in, within a frame or two of the encoder's delay.
    assert!((start as i64 - 40_000).abs() < 3 * 960, "start {start}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.mp3"), &whole).unwrap();
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_name,sample_rate", "-of", "csv=p=0"])
        .arg(dir.path().join("s.mp3"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&probe.stdout).trim(), "mp3,48000");
    // LPCM: 16-bit big-endian at 48 kHz, every range the very bytes of the whole stream
    // (decoding restarts at the grid point before it), a time seek on the frame.
    let l16 = res
        .iter()
        .find(|x| x["protocol_info"].as_str().unwrap().starts_with("http-get:*:audio/L16;rate=48000;channels=2:DLNA.ORG_PN=LPCM;DLNA.ORG_OP=11"))
        .expect("an LPCM resource");
    let lurl = l16["uri"].as_str().unwrap();
    let whole_pcm = s.http.get(lurl).send().unwrap().bytes().unwrap();
    assert_eq!(Some(whole_pcm.len() as u64), l16["size"].as_str().map(|v| v.parse::<u64>().unwrap()));
    for (a, b) in [(40_001usize, 90_000usize), (200_000, whole_pcm.len() - 1), (3, 17)] {
        let part = s.http.get(lurl).header("Range", format!("bytes={a}-{b}")).send().unwrap();
        assert_eq!(part.status(), 206);
        assert_eq!(&part.bytes().unwrap()[..], &whole_pcm[a..=b], "LPCM bytes {a}-{b}");
    }
    let at1 = s.http.get(lurl).header("TimeSeekRange.dlna.org", "npt=1.0-").header("getcontentFeatures.dlna.org", "1").send().unwrap();
    assert_eq!(at1.status(), 206);
    assert!(at1.headers()["content-type"].to_str().unwrap().starts_with("audio/L16;rate=48000;channels=2"));
    assert!(at1.headers()["contentfeatures.dlna.org"].to_str().unwrap().starts_with("DLNA.ORG_PN=LPCM;"));
    assert!(at1.headers()["content-range"].to_str().unwrap().starts_with("bytes 192000-"));
    std::fs::write(dir.path().join("s.pcm"), &whole_pcm).unwrap();
    // ffmpeg reads it as the MIME type says (s16be, 48 kHz, 2 channels) and decodes it whole.
    let decoded = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "s16be", "-ar", "48000", "-ac", "2", "-i"])
        .arg(dir.path().join("s.pcm"))
        .args(["-f", "s16le", "-"])
        .output()
        .unwrap();
    assert!(decoded.status.success() && decoded.stderr.is_empty(), "{}", String::from_utf8_lossy(&decoded.stderr));
    let pcm_secs = decoded.stdout.len() as f64 / 4.0 / 48_000.0;
    let dur = t["res"][0]["duration"].as_str().unwrap().rsplit(':').next().unwrap().parse::<f64>().unwrap();
    assert!((pcm_secs - dur).abs() < 0.002, "LPCM decodes to {pcm_secs} s of {dur} s");
    // The original seeks by byte only: a time seek is 406.
    let orig = res.iter().find(|x| x["uri"].as_str().unwrap().contains("format=original")).unwrap();
    let r406 = s.http.get(orig["uri"].as_str().unwrap()).header("TimeSeekRange.dlna.org", "npt=1-").send().unwrap();
    assert_eq!(r406.status(), 406);
    let ranged = s.http.get(orig["uri"].as_str().unwrap()).header("Range", "bytes=0-99").header("getcontentFeatures.dlna.org", "1").send().unwrap();
    assert_eq!(ranged.status(), 206);
    assert!(ranged.headers()["contentfeatures.dlna.org"].to_str().unwrap().contains("DLNA.ORG_OP=01;DLNA.ORG_CI=0"));
    let bad = s.http.get(url).header("TimeSeekRange.dlna.org", "npt=abc").send().unwrap();
    assert_eq!(bad.status(), 400);
    // Album art: a signed JPEG thumbnail.
    let art = s.http.get(homogenic["art"].as_str().unwrap()).send().unwrap();
    assert_eq!(art.status(), 200);
    assert_eq!(art.headers()["content-type"], "image/jpeg");
    // A URL of alice's opens nothing of bob's and nothing unsigned.
    let unsigned = url.split("&u=").next().unwrap();
    assert_eq!(s.http.get(unsigned).send().unwrap().status(), 401);
}

#[test]
fn hostile_or_foreign_upnp_requests_get_precise_answers() {
    let env = library_env();
    env.ok(&["user", "upnp", "alice", "on"], None);
    let s = serve_upnp(&env, free_udp_port());
    let started = Instant::now();
    let uuid = loop {
        let out = env.ok(&["user", "upnp", "alice", "on"], None);
        let uuid = out.split("uuid:").nth(1).and_then(|r| r.split(')').next()).unwrap().to_string();
        if s.http.get(s.url(&format!("/upnp/{uuid}/description.xml"))).send().unwrap().status() == 200 || started.elapsed() > Duration::from_secs(5) {
            break uuid;
        }
    };
    let fault_code = |body: &str| body.split("<errorCode>").nth(1).and_then(|b| b.split('<').next()).map(str::to_string);
    // Unknown actions, missing and malformed arguments, an entity bomb.
    let (st, body) = control(&s, &uuid, "Frobnicate", "");
    assert_eq!((st, fault_code(&body).as_deref()), (500, Some("401")));
    let (st, body) = control(&s, &uuid, "Browse", "<ObjectID>0</ObjectID><BrowseFlag>Sideways</BrowseFlag>");
    assert_eq!((st, fault_code(&body).as_deref()), (500, Some("402")));
    let (st, body) = control(&s, &uuid, "Browse", "<ObjectID>0</ObjectID><BrowseFlag>BrowseDirectChildren</BrowseFlag><StartingIndex>-4</StartingIndex>");
    assert_eq!((st, fault_code(&body).as_deref()), (500, Some("402")));
    let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:Browse xmlns:u="urn:schemas-upnp-org:service:ContentDirectory:1"><ObjectID>&lol2;</ObjectID></u:Browse></s:Body></s:Envelope>"#;
    let r = s.http.post(s.url(&format!("/upnp/{uuid}/control/ContentDirectory"))).body(bomb).send().unwrap();
    assert_eq!(r.status(), 500);
    assert_eq!(fault_code(&r.text().unwrap()).as_deref(), Some("402"));
    let huge = "x".repeat(4 << 20);
    // (On a connection of its own: the server closes it rather than read the rest.)
    let once = reqwest::blocking::Client::new();
    let r = once.post(s.url(&format!("/upnp/{uuid}/control/ContentDirectory"))).body(huge).send().unwrap();
    assert_eq!(r.status(), 413);
    // A huge count is a page, not the whole library at once.
    let (st, body) = control(
        &s,
        &uuid,
        "Browse",
        "<ObjectID>albums</ObjectID><BrowseFlag>BrowseDirectChildren</BrowseFlag><StartingIndex>0</StartingIndex><RequestedCount>4294967295</RequestedCount>",
    );
    assert_eq!(st, 200, "{body}");
    // A search for every track pages through the whole library.
    let tok = s.login("alice", PW);
    let all = s.json(&tok, "/api/v1/tracks?limit=1")["total"].as_u64().unwrap();
    let criteria = r#"<SearchCriteria>upnp:class derivedfrom "object.item.audioItem"</SearchCriteria>"#.replace('"', "&quot;");
    let (st, body) = control(
        &s,
        &uuid,
        "Search",
        &format!(
            "<ContainerID>0</ContainerID>{criteria}<Filter>*</Filter><StartingIndex>2</StartingIndex><RequestedCount>3</RequestedCount><SortCriteria></SortCriteria>"
        ),
    );
    assert_eq!(st, 200, "{body}");
    assert!(body.contains("<NumberReturned>3</NumberReturned>") && body.contains(&format!("<TotalMatches>{all}</TotalMatches>")), "{body}");
    assert_eq!(body.matches("&lt;item id=").count(), 3);
    // Another device's id, a proxied request, another service: 404 / 403 / 404.
    assert_eq!(s.http.get(s.url("/upnp/00000000-0000-8000-8000-000000000000/description.xml")).send().unwrap().status(), 404);
    let proxied = s.http.get(s.url(&format!("/upnp/{uuid}/description.xml"))).header("x-forwarded-for", "203.0.113.9").send().unwrap();
    assert_eq!(proxied.status(), 403);
    assert_eq!(s.http.post(s.url(&format!("/upnp/{uuid}/control/AVTransport"))).body(soap("Play", "")).send().unwrap().status(), 404);
    // GENA: a callback off the local network is refused; a subscription gets its initial
    // event, then one when the library changes; renewals and cancellations need a live SID.
    let gena = |method: &str, headers: &[(&str, &str)]| {
        let mut r = s.http.request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), s.url(&format!("/upnp/{uuid}/event/ContentDirectory")));
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.send().unwrap()
    };
    assert_eq!(gena("SUBSCRIBE", &[("callback", "<http://198.51.100.7:8000/e>"), ("nt", "upnp:event")]).status(), 412);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let cb = format!("<http://{}/events>", listener.local_addr().unwrap());
    let ok = gena("SUBSCRIBE", &[("callback", cb.as_str()), ("nt", "upnp:event"), ("timeout", "Second-300")]);
    assert_eq!(ok.status(), 200);
    let sid = ok.headers()["sid"].to_str().unwrap().to_string();
    assert!(sid.starts_with("uuid:"));
    assert_eq!(ok.headers()["timeout"], "Second-1800");
    listener.set_nonblocking(false).unwrap();
    let next_event = || -> String {
        use std::io::Read;
        let (mut c, _) = listener.accept().unwrap();
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&got).contains("</e:propertyset>") {
            let n = c.read(&mut buf).unwrap();
            assert!(n > 0, "the event ended early: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        let _ = std::io::Write::write_all(&mut c, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        String::from_utf8_lossy(&got).into_owned()
    };
    let first = next_event();
    assert!(first.starts_with("NOTIFY /events HTTP/1.1\r\n") && first.contains(&format!("SID: {sid}\r\n")) && first.contains("SEQ: 0\r\n"), "{first}");
    let id_of = |e: &str| e.split("<SystemUpdateID>").nth(1).and_then(|v| v.split('<').next()).map(str::to_string).unwrap();
    let before = id_of(&first);
    let tok = s.login("alice", PW);
    let track = s.json(&tok, "/api/v1/tracks?limit=1")["items"][0]["id"].as_i64().unwrap();
    let edit = s.http.patch(s.url(&format!("/api/v1/tracks/{track}"))).bearer_auth(&tok).body(r#"{"title":"Renamed for the event"}"#).send().unwrap();
    assert_eq!(edit.status(), 200);
    let second = next_event();
    assert!(second.contains("SEQ: 1\r\n"), "{second}");
    assert_ne!(id_of(&second), before, "the SystemUpdateID moved with the edit");
    assert_eq!(gena("SUBSCRIBE", &[("sid", sid.as_str())]).status(), 200);
    assert_eq!(gena("SUBSCRIBE", &[("sid", "uuid:00000000-0000-4000-8000-000000000000")]).status(), 412);
    assert_eq!(gena("UNSUBSCRIBE", &[("sid", sid.as_str())]).status(), 200);
    assert_eq!(gena("UNSUBSCRIBE", &[("sid", sid.as_str())]).status(), 412);
    // Bob's library is not shared: his tracks are not in alice's device, and the server
    // never panicked.
    let (st, body) = control(&s, &uuid, "Browse", "<ObjectID>track/999999</ObjectID><BrowseFlag>BrowseMetadata</BrowseFlag>");
    assert_eq!((st, fault_code(&body).as_deref()), (500, Some("701")));
    assert_eq!(s.http.get(s.url("/healthz")).send().unwrap().status(), 200);
}

/// SSDP multicast discovery and a real renderer, in a network namespace: gmediarender
/// plays a pushed MP3 URL, seeks near the end, and plays to the end.
#[test]
fn gmediarender_plays_a_pushed_track_to_the_end_after_a_seek() {
    let env = Env::new();
    env.add_user("alice", PW);
    let music = env.dir.path().join("music/Tone Album");
    std::fs::create_dir_all(&music).unwrap();
    tone_wav(&music.join("01 Long Tone.wav"), 16.0, 3);
    env.import("alice", &[env.dir.path().join("music")]);
    env.ok(&["user", "upnp", "alice", "on"], None);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("unshare")
        .arg("--net")
        .arg("bash")
        .arg(root.join("tests/upnp/netns.sh"))
        .arg(crate::common::bin())
        .arg(env.data())
        .arg(python())
        .arg(script())
        .envs(env.settings())
        .output()
        .expect("unshare runs (util-linux)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "netns run failed:\n{stderr}");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{stderr}", String::from_utf8_lossy(&out.stdout)));
    eprintln!("renderer report: {r}");
    assert_eq!(r["server_found"], true, "{r}\n{stderr}");
    assert!(r["renderer"].as_str().unwrap().contains("gmediarender-test"), "{r}");
    let timeline = r["timeline"].as_array().unwrap();
    let seek_to = r["seek_to"].as_f64().unwrap();
    let pos = |e: &Value| e["position"].as_f64().unwrap_or(0.0);
    assert!(timeline.iter().any(|e| e["at"] == "start" && e["state"] == "PLAYING"), "{timeline:?}");
    assert!(timeline.iter().filter(|e| e["at"] == "after_seek").any(|e| pos(e) >= seek_to - 0.5), "the seek did not land: {timeline:?}");
    let last = timeline.last().unwrap();
    assert_eq!(last["state"], "STOPPED", "the renderer did not reach the end: {timeline:?}\n{stderr}");
    // It played the remaining seconds, not the whole track again, nor nothing.
    let end_at = last["t"].as_f64().unwrap();
    let seek_at = timeline.iter().find(|e| e["at"] == "after_seek").unwrap()["t"].as_f64().unwrap();
    assert!(end_at - seek_at >= 16.0 - seek_to - 2.0 && end_at - seek_at < 16.0, "seek at {seek_at}, end at {end_at}: {timeline:?}");
}
