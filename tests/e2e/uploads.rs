//! The locker's uploads against the real binary: tus (the protocol by hand, then the real
//! tus-js-client across a kill -9), dedup of audio that differs only in tags, instant
//! uploads with proof of possession, concurrent uploads, tag edits, and crash safety.

use crate::common;

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use common::{Env, Server, testdata, tone_wav};
use reqwest::blocking::{RequestBuilder, Response};
use serde_json::{Value, json};
use sha2::Digest;

const PW: &str = "correct horse";

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn tus(s: &Server, tok: &str, method: reqwest::Method, path: &str) -> RequestBuilder {
    s.http.request(method, s.url(path)).bearer_auth(tok).header("Tus-Resumable", "1.0.0")
}

fn create(s: &Server, tok: &str, len: usize, name: &str) -> Response {
    tus(s, tok, reqwest::Method::POST, "/api/v1/uploads")
        .header("Upload-Length", len.to_string())
        .header("Upload-Metadata", format!("filename {},filetype {}", b64(name.as_bytes()), b64(b"audio/wav")))
        .send()
        .unwrap()
}

fn patch(s: &Server, tok: &str, url: &str, offset: usize, bytes: &[u8], checksum: Option<String>) -> Response {
    let mut r = tus(s, tok, reqwest::Method::PATCH, url)
        .header("Upload-Offset", offset.to_string())
        .header("Content-Type", "application/offset+octet-stream")
        .body(bytes.to_vec());
    if let Some(c) = checksum {
        r = r.header("Upload-Checksum", c);
    }
    r.send().unwrap()
}

fn head_offset(s: &Server, tok: &str, url: &str) -> u64 {
    let r = tus(s, tok, reqwest::Method::HEAD, url).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    r.headers()["upload-offset"].to_str().unwrap().parse().unwrap()
}

fn tracks(s: &Server, tok: &str) -> Vec<Value> {
    s.json(tok, "/api/v1/tracks?limit=1000")["items"].as_array().unwrap().clone()
}

fn original(s: &Server, tok: &str, id: &Value) -> Vec<u8> {
    let r = s.get(tok, &format!("/api/v1/tracks/{id}/original"));
    assert_eq!(r.status(), 200);
    r.bytes().unwrap().to_vec()
}

fn storage(s: &Server, admin: &str) -> Value {
    s.json(admin, "/api/v1/admin/storage")
}

#[test]
fn tus_protocol_resumes_after_kill_9_and_checks_everything() {
    let env = Env::new();
    env.add_user("root", "root password");
    env.add_user("alice", PW);
    env.add_user("bob", PW);
    let song = tone_wav(&env.dir.path().join("song.wav"), 6.0, 1);
    let mut s = env.serve();
    let (ta, tb) = (s.login("alice", PW), s.login("bob", PW));

    // OPTIONS advertises the protocol without authentication.
    let r = s.http.request(reqwest::Method::OPTIONS, s.url("/api/v1/uploads")).send().unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["tus-version"], "1.0.0");
    assert_eq!(r.headers()["tus-extension"], "creation,creation-with-upload,termination,checksum,expiration");
    assert_eq!(r.headers()["tus-checksum-algorithm"], "sha1,sha256");
    assert!(r.headers()["tus-max-size"].to_str().unwrap().parse::<u64>().unwrap() > 0);

    // Creation: version, length and file name are required.
    let r = s.http.post(s.url("/api/v1/uploads")).bearer_auth(&ta).header("Upload-Length", "10").send().unwrap();
    assert_eq!(r.headers()["tus-resumable"], "1.0.0");
    Server::expect_error(r, 412, "unsupported_version");
    Server::expect_error(
        tus(&s, &ta, reqwest::Method::POST, "/api/v1/uploads").header("Upload-Metadata", "filename YS53YXY=").send().unwrap(),
        400,
        "missing_length",
    );
    Server::expect_error(tus(&s, &ta, reqwest::Method::POST, "/api/v1/uploads").header("Upload-Length", "10").send().unwrap(), 400, "bad_filename");
    Server::expect_error(create(&s, &ta, 5 << 30, "huge.wav"), 413, "too_large");
    Server::expect_error(
        s.http.post(s.url("/api/v1/uploads")).header("Tus-Resumable", "1.0.0").header("Upload-Length", "10").send().unwrap(),
        401,
        "unauthorized",
    );

    let r = create(&s, &ta, song.len(), "../../Sine Song.wav");
    assert_eq!(r.status(), 201);
    assert!(r.headers().contains_key("upload-expires"));
    assert_eq!(r.headers()["upload-offset"], "0");
    let url = r.headers()["location"].to_str().unwrap().to_string();
    assert!(url.starts_with("/api/v1/uploads/"));

    // A first chunk, then a wrong offset, a wrong checksum, a right one.
    let cut1 = 300_000;
    let r = patch(&s, &ta, &url, 0, &song[..cut1], None);
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["upload-offset"], cut1.to_string().as_str());
    Server::expect_error(patch(&s, &ta, &url, 0, &song[..10], None), 409, "offset_mismatch");
    let r = tus(&s, &ta, reqwest::Method::PATCH, &url).header("Upload-Offset", cut1.to_string()).body(song[cut1..].to_vec()).send().unwrap();
    Server::expect_error(r, 415, "bad_content_type");
    let cut2 = 600_000;
    let wrong = format!("sha1 {}", b64(&sha1::Sha1::digest(b"something else")));
    Server::expect_error(patch(&s, &ta, &url, cut1, &song[cut1..cut2], Some(wrong)), 460, "checksum_mismatch");
    assert_eq!(head_offset(&s, &ta, &url), cut1 as u64, "a chunk failing its checksum is discarded");
    Server::expect_error(patch(&s, &ta, &url, cut1, &song[cut1..cut2], Some("md5 AAAA".into())), 400, "unsupported_checksum");
    let right = format!("sha256 {}", b64(&sha2::Sha256::digest(&song[cut1..cut2])));
    assert_eq!(patch(&s, &ta, &url, cut1, &song[cut1..cut2], Some(right)).status(), 204);
    // Someone else's upload does not exist for them.
    assert_eq!(tus(&s, &tb, reqwest::Method::HEAD, &url).send().unwrap().status(), 404);
    Server::expect_error(tus(&s, &tb, reqwest::Method::GET, &url).send().unwrap(), 404, "not_found");
    Server::expect_error(patch(&s, &tb, &url, cut2, &song[cut2..], None), 404, "not_found");

    // kill -9, restart: the upload resumes from the offset that reached the disk.
    s.kill9();
    let mut s = env.serve();
    let ta = s.login("alice", PW);
    assert_eq!(head_offset(&s, &ta, &url), cut2 as u64);
    let r = patch(&s, &ta, &url, cut2, &song[cut2..], None);
    assert_eq!(r.status(), 204, "{:?}", r.text());
    let track_id: i64 = r.headers()["tonearm-track-id"].to_str().unwrap().parse().unwrap();
    let st: Value = s.json(&ta, &url);
    assert_eq!((st["state"].as_str(), st["track"]["id"].as_i64(), st["track"]["file_name"].as_str()), (Some("done"), Some(track_id), Some("Sine Song.wav")));
    assert_eq!(original(&s, &ta, &json!(track_id)), song, "the original comes back byte for byte");
    assert_eq!(head_offset(&s, &ta, &url), song.len() as u64);

    // creation-with-upload: the whole file in the creation request.
    let mp3 = std::fs::read(testdata("library/Misc/id3v1.mp3")).unwrap();
    let r = tus(&s, &ta, reqwest::Method::POST, "/api/v1/uploads")
        .header("Upload-Length", mp3.len().to_string())
        .header("Upload-Metadata", format!("filename {}", b64("ünïcode ☃.mp3".as_bytes())))
        .header("Content-Type", "application/offset+octet-stream")
        .body(mp3.clone())
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["upload-offset"], mp3.len().to_string().as_str());
    let mp3_id = r.headers()["tonearm-track-id"].to_str().unwrap().to_string();
    assert_eq!(s.json(&ta, &format!("/api/v1/tracks/{mp3_id}"))["file_name"], "ünïcode ☃.mp3");

    // A bad file gets its precise error on the last PATCH, and the outcome stays readable.
    let blobs = env.blobs();
    let text = std::fs::read(testdata("bad/text.flac")).unwrap();
    let url2 = create(&s, &ta, text.len(), "text.flac").headers()["location"].to_str().unwrap().to_string();
    Server::expect_error(patch(&s, &ta, &url2, 0, &text, None), 422, "not_audio");
    let st = s.json(&ta, &url2);
    assert_eq!((st["state"].as_str(), st["error"]["code"].as_str()), (Some("rejected"), Some("not_audio")));
    assert_eq!(env.blobs(), blobs, "a rejected upload leaves nothing in the store");

    // Termination.
    let url3 = create(&s, &ta, 1000, "gone.wav").headers()["location"].to_str().unwrap().to_string();
    assert_eq!(patch(&s, &ta, &url3, 0, &song[..500], None).status(), 204);
    assert_eq!(tus(&s, &ta, reqwest::Method::DELETE, &url3).send().unwrap().status(), 204);
    Server::expect_error(tus(&s, &ta, reqwest::Method::GET, &url3).send().unwrap(), 404, "not_found");
    assert!(!env.data().join("tus").join(url3.rsplit('/').next().unwrap()).exists());

    // Expiration: with a zero lifetime an upload is gone (410) and swept at start-up.
    s.kill9();
    let s = env.serve_with(&[("TONEARM_UPLOADS__EXPIRY_HOURS", "0")]);
    let ta = s.login("alice", PW);
    let r = create(&s, &ta, 1000, "late.wav");
    let url4 = r.headers()["location"].to_str().unwrap().to_string();
    Server::expect_error(patch(&s, &ta, &url4, 0, &song[..10], None), 410, "upload_expired");
    drop(s);
    let s = env.serve();
    let ta = s.login("alice", PW);
    assert_eq!(tus(&s, &ta, reqwest::Method::HEAD, &url4).send().unwrap().status(), 404);
    Server::expect_error(tus(&s, &ta, reqwest::Method::GET, &url4).send().unwrap(), 404, "not_found");
}

/// The reference tus client, unchanged: uploads in chunks, is stopped half-way, the server
/// is killed with SIGKILL and restarted, and the client resumes from the server's offset.
#[test]
fn tus_js_client_resumes_across_a_server_crash() {
    let js = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    assert!(js.join("node_modules/tus-js-client").exists(), "run scripts/bootstrap.sh --test (npm ci in tests/js)");
    let env = Env::new();
    env.add_user("alice", PW);
    let file = env.dir.path().join("Ünïcödé Sine.wav");
    let song = tone_wav(&file, 4.0, 2);
    let mut s = env.serve();
    let tok = s.login("alice", PW);
    let node = |base: &str, tok: &str, mode: &str| -> Value {
        let out = std::process::Command::new("node")
            .arg(js.join("tus-upload.mjs"))
            .args([&format!("{base}/api/v1/uploads"), tok, file.to_str().unwrap(), mode])
            .env("CHUNK", "100000")
            .output()
            .expect("node");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "tus-js-client failed: {text} {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"))
    };
    let first = node(&s.base, &tok, "abort:3");
    let url = first["url"].as_str().unwrap().to_string();
    assert_eq!(first["offset"], 300_000);
    s.kill9();
    let s = env.serve();
    let tok = s.login("alice", PW);
    // The address changed with the restart; the upload's path did not.
    let path = &url[url.find("/api/v1/uploads/").unwrap()..];
    assert_eq!(head_offset(&s, &tok, path), 300_000);
    let done = node(&s.base, &tok, &format!("resume:{}{path}", s.base));
    assert_eq!(done["done"], true);
    let id = done["track"].clone();
    assert_eq!(s.json(&tok, &format!("/api/v1/tracks/{id}"))["file_name"], "Ünïcödé Sine.wav");
    assert_eq!(original(&s, &tok, &id), song);
    assert_eq!(tracks(&s, &tok).len(), 1);
}

/// Rewrites a FLAC file's Vorbis comment block (RFC 9639 §8.6) with `fields`.
pub(crate) fn retag_flac(bytes: &[u8], fields: &[(&str, &str)]) -> Vec<u8> {
    assert_eq!(&bytes[..4], b"fLaC");
    let mut out = b"fLaC".to_vec();
    let mut at = 4;
    let mut blocks = Vec::new();
    loop {
        let h = &bytes[at..at + 4];
        let len = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
        blocks.push((h[0] & 0x7f, bytes[at + 4..at + 4 + len].to_vec()));
        at += 4 + len;
        if h[0] & 0x80 != 0 {
            break;
        }
    }
    let mut vc = Vec::new();
    vc.extend(7u32.to_le_bytes());
    vc.extend(b"tonearm");
    vc.extend((fields.len() as u32).to_le_bytes());
    for (k, v) in fields {
        let f = format!("{k}={v}");
        vc.extend((f.len() as u32).to_le_bytes());
        vc.extend(f.as_bytes());
    }
    let mut kept: Vec<(u8, Vec<u8>)> = blocks.into_iter().filter(|(t, _)| *t != 4).collect();
    kept.push((4, vc));
    let n = kept.len();
    for (i, (t, body)) in kept.into_iter().enumerate() {
        let last = if i + 1 == n { 0x80 } else { 0 };
        out.push(t | last);
        out.extend(&(body.len() as u32).to_be_bytes()[1..]);
        out.extend(body);
    }
    out.extend(&bytes[at..]);
    out
}

/// An ID3v2.3 tag with a title frame, then the MPEG frames of `mp3` (its own tags removed).
pub(crate) fn retag_mp3(mp3: &[u8], title: &str) -> Vec<u8> {
    let mut start = 0;
    if &mp3[..3] == b"ID3" {
        start = 10 + mp3[6..10].iter().fold(0usize, |a, &b| (a << 7) | b as usize);
    }
    let end = if mp3.len() >= 128 && &mp3[mp3.len() - 128..mp3.len() - 125] == b"TAG" { mp3.len() - 128 } else { mp3.len() };
    let mut frame = vec![3u8];
    frame.extend(title.as_bytes());
    let mut tag = b"TIT2".to_vec();
    tag.extend((frame.len() as u32).to_be_bytes());
    tag.extend([0, 0]);
    tag.extend(frame);
    let size = tag.len();
    let mut out = b"ID3\x03\x00\x00".to_vec();
    out.extend([(size >> 21) as u8 & 0x7f, (size >> 14) as u8 & 0x7f, (size >> 7) as u8 & 0x7f, size as u8 & 0x7f]);
    out.extend(tag);
    out.extend(&mp3[start..end]);
    out
}

fn upload(s: &Server, tok: &str, name: &str, bytes: &[u8]) -> Response {
    s.http.post(s.url(&format!("/api/v1/tracks?filename={name}"))).bearer_auth(tok).body(bytes.to_vec()).send().unwrap()
}

/// Two users whose copies differ only in tags: the coded audio is stored once and its
/// segments are encoded once, while each keeps their own tags and downloads their own bytes.
#[test]
fn same_audio_with_different_tags_is_stored_once() {
    let env = Env::new();
    env.add_user("root", "root password");
    env.add_user("alice", PW);
    env.add_user("bob", PW);
    let s = env.serve();
    let root = s.login("root", "root password");
    let (ta, tb) = (s.login("alice", PW), s.login("bob", PW));
    let hunter = std::fs::read(testdata("library/Björk - Homogenic/01 Hunter.flac")).unwrap();
    let a_flac = retag_flac(&hunter, &[("TITLE", "Hunter"), ("ARTIST", "Björk"), ("ALBUM", "Homogenic")]);
    let b_flac = retag_flac(&hunter, &[("TITLE", "Hunter (my rip)"), ("ARTIST", "Bjork"), ("ALBUM", "Homogenic [1997]"), ("COMMENT", &"x".repeat(5000))]);
    let mp3 = std::fs::read(testdata("library/Sigur Rós - Ágætis byrjun/01 Svefn-g-englar.mp3")).unwrap();
    let (a_mp3, b_mp3) = (retag_mp3(&mp3, "Svefn-g-englar"), retag_mp3(&mp3, "Svefn-g-englar (remaster) ★"));
    assert_ne!(a_flac, b_flac);
    assert_ne!(a_mp3, b_mp3);

    // MP4 and Ogg copies retagged by ffmpeg (stream copy: the same coded audio).
    let ffmpeg_retag = |src: &str, ext: &str, title: &str| -> Vec<u8> {
        let out = env.dir.path().join(format!("{}.{ext}", title.len()));
        let st = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(testdata(src))
            .args(["-c", "copy", "-fflags", "+bitexact", "-metadata", &format!("title={title}"), "-metadata:s:a:0", &format!("title={title}")])
            .arg(&out)
            .status()
            .unwrap();
        assert!(st.success());
        std::fs::read(out).unwrap()
    };
    let a_m4a = ffmpeg_retag("library/Mix Tape/01 Side A.m4a", "m4a", "Side A");
    let b_m4a = ffmpeg_retag("library/Mix Tape/01 Side A.m4a", "m4a", "Side A — the long version");
    let a_ogg = ffmpeg_retag("library/Misc/vorbis.ogg", "ogg", "Vorbis");
    let b_ogg = ffmpeg_retag("library/Misc/vorbis.ogg", "ogg", "Vorbis, retagged by Bob");
    assert_ne!(a_m4a, b_m4a);

    let before = storage(&s, &root);
    let a1: Value = upload(&s, &ta, "hunter.flac", &a_flac).json().unwrap();
    let a2: Value = upload(&s, &ta, "svefn.mp3", &a_mp3).json().unwrap();
    let a3: Value = upload(&s, &ta, "a.m4a", &a_m4a).json().unwrap();
    let a4: Value = upload(&s, &ta, "a.ogg", &a_ogg).json().unwrap();
    let after_a = storage(&s, &root);
    let b1: Value = upload(&s, &tb, "Hunter (my rip).flac", &b_flac).json().unwrap();
    let b2: Value = upload(&s, &tb, "svefn.mp3", &b_mp3).json().unwrap();
    let b3: Value = upload(&s, &tb, "b.m4a", &b_m4a).json().unwrap();
    let b4: Value = upload(&s, &tb, "b.ogg", &b_ogg).json().unwrap();
    let after_b = storage(&s, &root);
    let phys = |v: &Value| v["physical_bytes"].as_u64().unwrap();
    let logical = |v: &Value| v["logical_bytes"].as_u64().unwrap();
    let (grew_a, grew_b) = (phys(&after_a) - phys(&before), phys(&after_b) - phys(&after_a));
    let b_total = (b_flac.len() + b_mp3.len() + b_m4a.len() + b_ogg.len()) as u64;
    let a_total = (a_flac.len() + a_mp3.len() + a_m4a.len() + a_ogg.len()) as u64;
    eprintln!("alice stored {grew_a} bytes for {a_total}; bob {grew_b} bytes for {b_total}");
    // Bob's copies cost only their tag blocks (the audio is Alice's): under a quarter of them.
    assert!(grew_b < b_total / 4, "bob's upload grew storage by {grew_b} bytes (alice's by {grew_a})");
    assert!(grew_a > a_total * 9 / 10);
    assert_eq!(logical(&after_b) - logical(&after_a), b_total);
    assert!(after_b["dedup_ratio"].as_f64().unwrap() > 1.5, "{after_b}");

    // Each sees their own tags and downloads their own bytes.
    assert_eq!((a1["title"].as_str(), b1["title"].as_str()), (Some("Hunter"), Some("Hunter (my rip)")));
    assert_eq!((a2["title"].as_str(), b2["title"].as_str()), (Some("Svefn-g-englar"), Some("Svefn-g-englar (remaster) ★")));
    assert_eq!((a3["title"].as_str(), b3["title"].as_str()), (Some("Side A"), Some("Side A — the long version")));
    assert_eq!(b4["title"], "Vorbis, retagged by Bob");
    for (tok, t, bytes) in [
        (&ta, &a1, &a_flac),
        (&tb, &b1, &b_flac),
        (&ta, &a2, &a_mp3),
        (&tb, &b2, &b_mp3),
        (&ta, &a3, &a_m4a),
        (&tb, &b3, &b_m4a),
        (&ta, &a4, &a_ogg),
        (&tb, &b4, &b_ogg),
    ] {
        assert_eq!(&original(&s, tok, &t["id"]), bytes, "{}", t["file_name"]);
    }
    let ranged = s.http.get(s.url(&format!("/api/v1/tracks/{}/original", b1["id"]))).bearer_auth(&tb).header("Range", "bytes=100-20099").send().unwrap();
    assert_eq!(ranged.status(), 206);
    assert_eq!(ranged.bytes().unwrap().to_vec(), b_flac[100..20100].to_vec(), "ranges cross the head/audio seam");

    // One encode serves both: Bob's segment is a cache hit on Alice's bytes.
    let seg = |tok: &str, id: &Value| s.get(tok, &format!("/hls/{id}/opus-64/0.m4s")).bytes().unwrap().to_vec();
    let metric = |name: &str| -> f64 {
        let text = s.http.get(s.url("/metrics")).send().unwrap().text().unwrap();
        text.lines().find(|l| l.starts_with(name)).and_then(|l| l.split_whitespace().last()).unwrap().parse().unwrap()
    };
    let a_seg = seg(&ta, &a1["id"]);
    let misses = metric("tonearm_segment_cache_misses_total");
    assert_eq!(seg(&tb, &b1["id"]), a_seg);
    assert_eq!(metric("tonearm_segment_cache_misses_total"), misses);

    // Deleting Alice's copy keeps the shared audio for Bob.
    assert_eq!(s.http.delete(s.url(&format!("/api/v1/tracks/{}", a1["id"]))).bearer_auth(&ta).send().unwrap().status(), 204);
    assert_eq!(original(&s, &tb, &b1["id"]), b_flac);
    let out = env.ok(&["check"], None);
    let report: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!((report["missing"].as_array().unwrap().len(), report["orphans"].as_u64()), (0, Some(0)), "{report}");
}

fn proofs(bytes: &[u8], challenge: &Value) -> Vec<String> {
    challenge["ranges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let (o, l) = (r["offset"].as_u64().unwrap() as usize, r["length"].as_u64().unwrap() as usize);
            hex(&sha2::Sha256::digest(&bytes[o..o + l]))
        })
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn instant_upload_needs_proof_and_leaks_nothing_without_it() {
    let env = Env::new();
    env.add_user("alice", PW);
    env.add_user("bob", PW);
    env.add_user("eve", PW);
    let file = env.dir.path().join("song.wav");
    let song = tone_wav(&file, 3.0, 3);
    let s = env.serve();
    let (ta, tb, te) = (s.login("alice", PW), s.login("bob", PW), s.login("eve", PW));
    assert_eq!(upload(&s, &ta, "Alice's name.wav", &song).status(), 201);
    let ask = |tok: &str, sha: &str, size: usize| {
        s.http
            .post(s.url("/api/v1/uploads/instant"))
            .bearer_auth(tok)
            .body(json!({"sha256": sha, "size": size, "filename": "Bob's name.wav"}).to_string())
            .send()
            .unwrap()
    };
    let prove = |tok: &str, c: &Value, p: Vec<String>| {
        s.http
            .post(s.url(&format!("/api/v1/uploads/instant/{}", c["challenge"].as_str().unwrap())))
            .bearer_auth(tok)
            .body(json!({"proofs": p}).to_string())
            .send()
            .unwrap()
    };
    let sha = hex(&sha2::Sha256::digest(&song));
    let blobs = env.blobs();

    // Bob has the file: he proves it and gets his track without sending it.
    let t0 = std::time::Instant::now();
    let r = ask(&tb, &sha, song.len());
    assert_eq!(r.status(), 200);
    let c: Value = r.json().unwrap();
    assert_eq!(c["ranges"].as_array().unwrap().len(), 4);
    let r = prove(&tb, &c, proofs(&song, &c));
    assert_eq!(r.status(), 201);
    eprintln!("instant upload round trip (ask + prove): {:.1} ms", t0.elapsed().as_secs_f64() * 1e3);
    let t: Value = r.json().unwrap();
    assert_eq!(t["file_name"], "Bob's name.wav");
    assert_eq!(original(&s, &tb, &t["id"]), song);
    assert_eq!(env.blobs(), blobs, "nothing new stored");
    // Asking again when already owned: the same track (200).
    let c: Value = ask(&tb, &sha, song.len()).json().unwrap();
    assert_eq!(prove(&tb, &c, proofs(&song, &c)).status(), 200);

    // Eve knows only the hash: her proof fails, exactly as for a file the server lacks.
    let c: Value = ask(&te, &sha, song.len()).json().unwrap();
    Server::expect_error(prove(&te, &c, vec!["00".repeat(32); 4]), 422, "proof_failed");
    // The challenge was used up.
    Server::expect_error(prove(&te, &c, proofs(&song, &c)), 404, "not_found");
    let absent = hex(&sha2::Sha256::digest(b"not stored"));
    let r = ask(&te, &absent, song.len());
    assert_eq!(r.status(), 200, "the answer does not say whether the file exists");
    let c2: Value = r.json().unwrap();
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&c2), keys(&c));
    Server::expect_error(prove(&te, &c2, proofs(&song, &c2)), 422, "proof_failed");
    // Someone else's challenge is not found; bad requests are precise.
    let cb: Value = ask(&tb, &sha, song.len()).json().unwrap();
    Server::expect_error(prove(&te, &cb, proofs(&song, &cb)), 404, "not_found");
    Server::expect_error(ask(&te, "abc", 10), 400, "bad_hash");
    Server::expect_error(s.http.post(s.url("/api/v1/uploads/instant")).body("{}").send().unwrap(), 401, "unauthorized");
    assert!(tracks(&s, &te).is_empty());
}

/// Two users upload the same new file at the same moment: one set of blobs, two tracks.
#[test]
fn concurrent_uploads_of_one_new_file_store_it_once() {
    let env = Env::new();
    env.add_user("alice", PW);
    env.add_user("bob", PW);
    let song = tone_wav(&env.dir.path().join("s.wav"), 5.0, 4);
    let s = env.serve();
    let (ta, tb) = (s.login("alice", PW), s.login("bob", PW));
    let before = env.blobs();
    let results: Vec<u16> = std::thread::scope(|sc| {
        let hs: Vec<_> = [&ta, &tb].into_iter().map(|t| sc.spawn(|| upload(&s, t, "same.wav", &song).status().as_u16())).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(results, vec![201, 201]);
    // A WAV is two parts: its RIFF header and its samples.
    assert_eq!(env.blobs() - before, 2);
    for t in [&ta, &tb] {
        let list = tracks(&s, t);
        assert_eq!(list.len(), 1);
        assert_eq!(original(&s, t, &list[0]["id"]), song);
    }
}

#[test]
fn upload_limits_quota_and_concurrency() {
    let env = Env::new();
    env.add_user("root", "root password");
    env.add_user("alice", PW);
    let song = tone_wav(&env.dir.path().join("s.wav"), 2.0, 5);
    let s = env.serve_with(&[("TONEARM_UPLOADS__MAX_CONCURRENT_PER_USER", "1")]);
    let (root, ta) = (s.login("root", "root password"), s.login("alice", PW));
    // One slow upload holds Alice's only slot: a second one at the same time gets 429.
    struct Slow(usize);
    impl Read for Slow {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Ok(0);
            }
            std::thread::sleep(Duration::from_millis(300));
            self.0 -= 1;
            buf[0] = 0;
            Ok(1)
        }
    }
    std::thread::scope(|sc| {
        let slow = sc.spawn(|| {
            s.http
                .post(s.url("/api/v1/tracks?filename=slow.wav"))
                .bearer_auth(&ta)
                .body(reqwest::blocking::Body::new(Slow(8)))
                .send()
                .unwrap()
                .status()
                .as_u16()
        });
        std::thread::sleep(Duration::from_millis(700));
        let r = upload(&s, &ta, "second.wav", &song);
        assert!(r.headers().contains_key("retry-after"));
        Server::expect_error(r, 429, "too_many_uploads");
        assert_eq!(slow.join().unwrap(), 422, "eight zero bytes are not audio");
    });
    assert_eq!(upload(&s, &ta, "now.wav", &song).status(), 201);
    // A quota below the next upload: refused by tus creation and by one-request upload.
    let alice_id = s.json(&ta, "/api/v1/me")["id"].as_i64().unwrap();
    let r = s
        .http
        .patch(s.url(&format!("/api/v1/admin/users/{alice_id}")))
        .bearer_auth(&root)
        .body(format!(r#"{{"quota_bytes": {}}}"#, song.len() + 1000))
        .send()
        .unwrap();
    assert!(r.status().is_success());
    let other = tone_wav(&env.dir.path().join("o.wav"), 2.0, 6);
    Server::expect_error(create(&s, &ta, other.len(), "o.wav"), 413, "quota_exceeded");
    Server::expect_error(upload(&s, &ta, "o.wav", &other), 413, "quota_exceeded");
}

#[test]
fn tag_edits_change_only_the_owners_view() {
    let env = Env::new();
    env.add_user("alice", PW);
    env.add_user("bob", PW);
    env.import("alice", &[testdata("library/Björk - Homogenic")]);
    env.import("bob", &[testdata("library/Björk - Homogenic")]);
    let s = env.serve();
    let (ta, tb) = (s.login("alice", PW), s.login("bob", PW));
    let hunter = |tok: &str| tracks(&s, tok).into_iter().find(|t| t["file_name"] == "01 Hunter.flac").unwrap();
    let (ha, hb) = (hunter(&ta), hunter(&tb));
    let edit = |tok: &str, id: &Value, body: &str| s.http.patch(s.url(&format!("/api/v1/tracks/{id}"))).bearer_auth(tok).body(body.to_string()).send().unwrap();
    let r = edit(&ta, &ha["id"], r#"{"title": "Hunter (Live)", "album": "Homogenic Live", "year": 1998, "track_number": 7, "genre": null}"#);
    assert_eq!(r.status(), 200);
    let t: Value = r.json().unwrap();
    assert_eq!(
        (t["title"].as_str(), t["album"].as_str(), t["year"].as_i64(), t["track_number"].as_i64()),
        (Some("Hunter (Live)"), Some("Homogenic Live"), Some(1998), Some(7))
    );
    // Alice now has two albums; the search index follows; Bob's view is untouched.
    let albums = s.json(&ta, "/api/v1/albums")["items"].as_array().unwrap().clone();
    assert_eq!(albums.len(), 2);
    assert!(albums.iter().all(|a| a["track_count"] == 1));
    assert_eq!(s.json(&ta, "/api/v1/search?q=hunter live")["tracks"].as_array().unwrap().len(), 1);
    assert_eq!(hunter(&tb)["title"], "Hunter");
    assert_eq!(s.json(&tb, "/api/v1/albums")["items"].as_array().unwrap().len(), 1);
    // The file itself is not rewritten: both still download the same bytes.
    assert_eq!(original(&s, &ta, &ha["id"]), original(&s, &tb, &hb["id"]));
    // Precise errors; someone else's track is not there.
    Server::expect_error(edit(&tb, &ha["id"], r#"{"title": "mine"}"#), 404, "not_found");
    Server::expect_error(edit(&ta, &ha["id"], r#"{"titel": "typo"}"#), 400, "bad_json");
    Server::expect_error(edit(&ta, &ha["id"], r#"{"title": "   "}"#), 400, "invalid");
    Server::expect_error(edit(&ta, &ha["id"], r#"{"track_number": 0}"#), 400, "bad_tag");
    // A title like a path is only a title.
    let r = edit(&ta, &ha["id"], r#"{"title": "../../etc/passwd", "artist": "Björk; Sjón"}"#);
    assert_eq!(r.json::<Value>().unwrap()["title"], "../../etc/passwd");
}

/// kill -9 while uploads and deletes run, again and again: after each restart no reference
/// dangles, every track plays its original, and `tonearm check --sweep` reclaims orphans.
#[test]
fn crashes_during_uploads_and_deletes_leave_no_dangling_references() {
    let env = Env::new();
    env.add_user("alice", PW);
    env.add_user("bob", PW);
    let files: Vec<Vec<u8>> = (0..12).map(|i| tone_wav(&env.dir.path().join(format!("{i}.wav")), 1.0 + i as f64 * 0.1, 100 + i)).collect();
    let mut rounds = Vec::new();
    for round in 0..5u64 {
        let mut s = env.serve();
        let (ta, tb) = (s.login("alice", PW), s.login("bob", PW));
        let stop = std::sync::atomic::AtomicBool::new(false);
        let pid = s.pid();
        std::thread::scope(|sc| {
            for (w, tok) in [&ta, &tb, &ta].into_iter().enumerate() {
                let (s, files, stop) = (&s, &files, &stop);
                sc.spawn(move || {
                    let mut i = w + round as usize;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let f = &files[i % files.len()];
                        let _ = s.http.post(s.url(&format!("/api/v1/tracks?filename={i}.wav"))).bearer_auth(tok).body(f.clone()).send();
                        if let Ok(r) = s.http.get(s.url("/api/v1/tracks?limit=1000")).bearer_auth(tok).send()
                            && let Ok(v) = r.json::<Value>()
                            && let Some(items) = v["items"].as_array()
                            && let Some(t) = items.get(i % 3)
                        {
                            let _ = s.http.delete(s.url(&format!("/api/v1/tracks/{}", t["id"]))).bearer_auth(tok).send();
                        }
                        i += 1;
                    }
                });
            }
            // Once uploads are landing, let them and the deletes run a little, then crash.
            let start = std::time::Instant::now();
            while start.elapsed() < Duration::from_secs(20)
                && s.http.get(s.url("/api/v1/tracks")).bearer_auth(&ta).send().ok().and_then(|r| r.json::<Value>().ok()).is_none_or(|v| v["total"] == 0)
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            std::thread::sleep(Duration::from_millis(100 + 150 * round));
            assert!(std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap().success());
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        s.kill9();
        let out = env.cli(&["check"], None);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
        assert!(out.status.success(), "round {round}: {report}");
        assert_eq!(report["missing"].as_array().unwrap().len(), 0, "round {round}: {report}");
        rounds.push(report);
    }
    // Every surviving track's original is whole and is one of the files uploaded.
    let s = env.serve();
    for tok in [s.login("alice", PW), s.login("bob", PW)] {
        for t in tracks(&s, &tok) {
            assert!(files.contains(&original(&s, &tok, &t["id"])), "track {} is intact", t["id"]);
        }
    }
    drop(s);
    assert!(rounds.iter().all(|r| r["stored"].as_u64() > Some(0)), "the crashes hit real work: {rounds:?}");
    let swept: Value = serde_json::from_str(env.ok(&["check", "--sweep"], None).trim()).unwrap();
    let after: Value = serde_json::from_str(env.ok(&["check"], None).trim()).unwrap();
    assert_eq!(after["orphans"], 0, "{swept}");
    eprintln!("crash rounds: {}", rounds.iter().map(|r| format!("{}/{} orphans", r["orphans"], r["stored"])).collect::<Vec<_>>().join(", "));
}
