//! Hostile input through the real server: files built to crash or starve parsers
//! (`testdata/hostile`, made by `testdata/make-hostile.py`: chapter frames nested 200 deep,
//! absurd sample rates and channel counts, cover decompression bombs, deep MP4 boxes) get a
//! precise 4xx or become tracks that play, never a crash, never unbounded memory; and the
//! server's own limits hold: slow clients are cut off, connections are bounded, long
//! playlists are refused, oversized JSON is a JSON 413, signed URLs die with the account.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Env, Server, testdata};
use serde_json::Value;

fn rss_peak_mb(s: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.pid())).unwrap();
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).map(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().unwrap() / 1024).unwrap()
}

fn upload(s: &Server, tok: &str, name: &str, bytes: &[u8]) -> reqwest::blocking::Response {
    s.http.post(s.url(&format!("/api/v1/tracks?filename={name}"))).bearer_auth(tok).body(bytes.to_vec()).send().unwrap()
}

/// What each hostile file must become: `Ok(())` a track that plays, `Err(code)` a 422.
fn expected(name: &str) -> Result<(), &'static str> {
    match name {
        "chap-nested.mp3" | "ctoc-nested.mp3" => Err("malformed"),
        "wav-rate-0.wav" | "wav-rate-1.wav" | "wav-rate-max.wav" | "vorbis-rate-max.ogg" => Err("malformed"),
        "opus-channels-255.ogg" => Err("not_audio"),
        "wav-bits-0.wav" | "wav-bits-64-int.wav" | "wav-channels-0.wav" | "wav-channels-255.wav" | "wav-huge-data-size.wav" => Err("undecodable"),
        "flac-png-bomb.flac" | "flac-png-wide.flac" | "mp3-apic-bomb.mp3" | "mp4-deep-boxes.m4a" => Ok(()),
        other => panic!("no expectation for {other}: add it here"),
    }
}

#[test]
fn hostile_files_get_precise_answers_and_bounded_memory() {
    let env = Env::new();
    env.add_user("alice", "correct horse");
    let s = env.serve();
    let tok = s.login("alice", "correct horse");
    let mut files: Vec<_> =
        std::fs::read_dir(testdata("hostile")).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e != "md")).collect();
    files.sort();
    assert!(files.len() >= 16, "the corpus is there");
    for path in &files {
        let name = path.file_name().unwrap().to_str().unwrap();
        let r = upload(&s, &tok, name, &std::fs::read(path).unwrap());
        let status = r.status().as_u16();
        let body: Value = r.json().unwrap();
        match expected(name) {
            Err(code) => {
                assert_eq!(status, 422, "{name}: {body}");
                assert_eq!(body["error"]["code"], code, "{name}: {body}");
            }
            Ok(()) => {
                assert_eq!(status, 201, "{name}: {body}");
                let id = body["id"].as_i64().unwrap();
                // It plays: the first segment of a rung, and a transcoded stream.
                let seg = s.get(&tok, &format!("/hls/{id}/aac-96/0.m4s"));
                assert_eq!(seg.status(), 200, "{name}");
                // A cover that was a bomb was not kept: no cover, at any size.
                for size in [64, 300, 1200] {
                    let c = s.get(&tok, &format!("/api/v1/tracks/{id}/cover?size={size}")).status().as_u16();
                    assert!(c == 404 || c == 200, "{name}: cover {c}");
                }
            }
        }
        assert_eq!(s.http.get(s.url("/healthz")).send().unwrap().status(), 200, "alive after {name}");
    }
    // Nothing half-written: only the accepted files are stored.
    let stored = s.json(&tok, "/api/v1/tracks")["total"].as_u64().unwrap();
    assert_eq!(stored as usize, files.iter().filter(|p| expected(p.file_name().unwrap().to_str().unwrap()).is_ok()).count());
    let peak = rss_peak_mb(&s);
    eprintln!("peak RSS over the hostile corpus: {peak} MB");
    assert!(peak < 400, "peak RSS {peak} MB");
    // Every input the fuzzer ever crashed on: a precise 4xx or a track that plays.
    for path in std::fs::read_dir(testdata("fuzz-regressions")).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e != "md")) {
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let r = upload(&s, &tok, &name, &std::fs::read(&path).unwrap());
        let status = r.status().as_u16();
        let body: Value = r.json().unwrap();
        match status {
            200 | 201 => assert_eq!(s.get(&tok, &format!("/hls/{}/aac-96/0.m4s", body["id"])).status(), 200, "{name}"),
            400..=499 => assert!(body["error"]["code"].is_string(), "{name}: {body}"),
            other => panic!("{name}: {other} {body}"),
        }
        assert_eq!(s.http.get(s.url("/healthz")).send().unwrap().status(), 200, "alive after {name}");
    }
    // The CLI import takes the same decisions and does not abort either.
    let out = env.cli(&["import", "--user", "alice", testdata("hostile").to_str().unwrap()], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn cover_bombs_and_sizes_are_bounded() {
    // A real-sized cover and every odd size an app asks for: one decode, snapped sizes.
    let env = Env::new();
    env.add_user("alice", "correct horse");
    env.import("alice", &[testdata("library/Björk - Homogenic")]);
    let s = env.serve();
    let tok = s.login("alice", "correct horse");
    let album = s.json(&tok, "/api/v1/albums")["items"][0]["id"].as_i64().unwrap();
    let sizes = [50, 64, 100, 150, 300, 500, 600, 1000];
    let handles: Vec<_> = sizes
        .iter()
        .map(|&n| {
            let (url, tok, http) = (s.url(&format!("/api/v1/albums/{album}/cover?size={n}")), tok.clone(), s.http.clone());
            std::thread::spawn(move || {
                let r = http.get(url).bearer_auth(tok).send().unwrap();
                (r.status().as_u16(), r.headers()["etag"].to_str().unwrap().to_string())
            })
        })
        .collect();
    let mut etags: Vec<String> = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .map(|(st, e)| {
            assert_eq!(st, 200);
            e
        })
        .collect();
    etags.sort();
    etags.dedup();
    // 50 and 64 → 64; 100 → 128; 150 → 256; 300 and 500 → 512; 600 → 800; 1000 → 1200.
    assert_eq!(etags.len(), 6, "{etags:?}");
    let cached = std::fs::read_dir(env.data().join("cache/covers")).unwrap().count();
    assert!(cached <= 6, "{cached} scaled files for one image");
}

#[test]
fn signed_urls_die_with_the_account_state() {
    let env = Env::new();
    env.add_user("root", "root password");
    env.add_user("alice", "correct horse");
    env.import("alice", &[testdata("library/Björk - Homogenic")]);
    let s = env.serve();
    let (root, tok) = (s.login("root", "root password"), s.login("alice", "correct horse"));
    let alice = s.json(&tok, "/api/v1/me")["id"].as_i64().unwrap();
    let id = s.json(&tok, "/api/v1/tracks")["items"][0]["id"].as_i64().unwrap();
    let signed = |tok: &str| s.json(tok, &format!("/api/v1/tracks/{id}/playback"))["hls"].as_str().unwrap().to_string();
    let get = |url: &str| s.http.get(s.url(url)).send().unwrap();
    let url = signed(&tok);
    assert_eq!(get(&url).status(), 200);
    // An administrator resets her password: every URL signed before stops at once.
    let r = s.http.put(s.url(&format!("/api/v1/admin/users/{alice}/password"))).bearer_auth(&root).body(r#"{"password":"a new one here"}"#).send().unwrap();
    assert_eq!(r.status(), 204);
    Server::expect_error(get(&url), 403, "bad_signature");
    let tok = s.login("alice", "a new one here");
    let url = signed(&tok);
    assert_eq!(get(&url).status(), 200);
    // Disabled: nothing signed opens; enabled again, the same URL works again.
    let patch = |disabled: bool| {
        s.http.patch(s.url(&format!("/api/v1/admin/users/{alice}"))).bearer_auth(&root).body(format!(r#"{{"disabled":{disabled}}}"#)).send().unwrap().status()
    };
    assert_eq!(patch(true), 204);
    Server::expect_error(get(&url), 403, "bad_signature");
    assert_eq!(patch(false), 204);
    assert_eq!(get(&url).status(), 200);
    // Deleted: her token and her URLs end at once (no 10 s of grace from caches).
    let tok = s.login("alice", "a new one here");
    assert_eq!(s.get(&tok, &format!("/hls/{id}/aac-96/0.m4s")).status(), 200);
    assert_eq!(s.http.delete(s.url(&format!("/api/v1/admin/users/{alice}"))).bearer_auth(&root).send().unwrap().status(), 204);
    Server::expect_error(s.get(&tok, &format!("/hls/{id}/aac-96/0.m4s")), 401, "invalid_token");
    Server::expect_error(s.get(&tok, &format!("/hls/{id}/aac-96/5.m4s")), 401, "invalid_token");
    Server::expect_error(get(&url), 403, "bad_signature");
}

#[test]
fn request_limits_answer_json() {
    let env = Env::new();
    env.add_user("alice", "correct horse");
    env.import("alice", &[testdata("library/Björk - Homogenic")]);
    let s = env.serve();
    let tok = s.login("alice", "correct horse");
    let id = s.json(&tok, "/api/v1/tracks")["items"][0]["id"].as_i64().unwrap();
    // Playlists are bounded, and long ones page.
    let ids = |n: usize| format!("[{}]", vec![id.to_string(); n].join(","));
    let post = |path: &str, body: String| s.http.post(s.url(path)).bearer_auth(&tok).body(body).send().unwrap();
    Server::expect_error(post("/api/v1/playlists", format!(r#"{{"name":"big","tracks":{}}}"#, ids(10_001))), 422, "playlist_too_long");
    let r = post("/api/v1/playlists", format!(r#"{{"name":"full","tracks":{}}}"#, ids(10_000)));
    assert_eq!(r.status(), 201);
    let pl = r.json::<Value>().unwrap()["id"].as_i64().unwrap();
    Server::expect_error(post(&format!("/api/v1/playlists/{pl}/tracks"), format!(r#"{{"tracks":{}}}"#, ids(1))), 422, "playlist_too_long");
    let page = s.json(&tok, &format!("/api/v1/playlists/{pl}?limit=10&offset=9995"));
    assert_eq!(page["tracks"].as_array().unwrap().len(), 5);
    assert_eq!(page["track_count"], 10_000);
    // A JSON body over 2 MiB is a JSON 413; a path segment that is not UTF-8 a JSON 400.
    Server::expect_error(post("/api/v1/playlists", format!(r#"{{"name":"x","tracks":[{}]}}"#, "1,".repeat(1_100_000))), 413, "too_large");
    Server::expect_error(s.get(&tok, "/api/v1/tracks/%FF%FE"), 400, "bad_path");
    Server::expect_error(s.get(&tok, "/hls/%FF/aac-96/0.m4s"), 400, "bad_path");
    // Every list is {items, total}.
    let users = s.json(&tok, "/api/v1/playlists");
    assert!(users["items"].is_array() && users["total"].is_u64());
}

#[test]
fn slow_clients_are_cut_off_and_connections_are_bounded() {
    let env = Env::new();
    env.add_user("alice", "correct horse");
    let s = env.serve_with(&[("TONEARM_HTTP__HEADER_TIMEOUT_SECS", "1"), ("TONEARM_HTTP__MAX_CONNECTIONS", "4")]);
    let addr = s.base.trim_start_matches("http://").to_string();
    // A slowloris: half a request head, then nothing. The server closes it.
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let t = Instant::now();
    let mut buf = Vec::new();
    let _ = slow.read_to_end(&mut buf);
    assert!(t.elapsed() < Duration::from_secs(5), "a slow head is cut off after the header timeout");
    // Four idle sockets fill the limit: a fifth client is served once they time out.
    let idle: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    let mut fifth = TcpStream::connect(&addr).unwrap();
    fifth.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    fifth.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut answer = String::new();
    fifth.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(t.elapsed() >= Duration::from_millis(500), "served while the limit was full");
    drop(idle);
    // And the server serves normally afterwards.
    assert_eq!(s.http.get(s.url("/healthz")).send().unwrap().status(), 200);
}

#[test]
fn uploads_racing_deletes_of_the_same_track_never_answer_5xx() {
    let env = Env::new();
    env.add_user("alice", "correct horse");
    let s = std::sync::Arc::new(env.serve());
    let tok = s.login("alice", "correct horse");
    let wav = common::tone_wav(&env.dir.path().join("race.wav"), 1.0, 7);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let deleter = {
        let (s, tok, stop) = (s.clone(), tok.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut codes = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let items = s.json(&tok, "/api/v1/tracks")["items"].as_array().unwrap().clone();
                for t in items {
                    codes.push(s.http.delete(s.url(&format!("/api/v1/tracks/{}", t["id"]))).bearer_auth(&tok).send().unwrap().status().as_u16());
                }
            }
            codes
        })
    };
    let mut codes = Vec::new();
    for _ in 0..40 {
        codes.push(upload(&s, &tok, "race.wav", &wav).status().as_u16());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let deletes = deleter.join().unwrap();
    // 201/200 (landed), 409 (deleted while it finished); deletes 204 or 404.
    assert!(codes.iter().all(|c| matches!(c, 200 | 201 | 409)), "uploads: {codes:?}");
    assert!(deletes.iter().all(|c| matches!(c, 204 | 404)), "deletes: {deletes:?}");
    let out = env.cli(&["check"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

/// Tracks stored by older versions with headers the probe now refuses (0 Hz, 4 GHz) are
/// refused for playback with a 422 and can be deleted, instead of eating memory or
/// answering 500.
#[test]
fn stored_tracks_with_lying_headers_answer_422_and_can_be_deleted() {
    let env = Env::new();
    env.add_user("alice", "correct horse");
    let dir = env.dir.path().join("src");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..3 {
        common::tone_wav(&dir.join(format!("{i}.wav")), 1.0, i);
    }
    env.import("alice", &[dir]);
    let db = rusqlite::Connection::open(env.data().join("tonearm.db")).unwrap();
    let hashes: Vec<Vec<u8>> = db.prepare("SELECT hash FROM media").unwrap().query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
    for (h, rate) in hashes.iter().zip([0i64, 1, 4_294_967_295]) {
        db.execute("UPDATE media SET sample_rate = ?1 WHERE hash = ?2", rusqlite::params![rate, h]).unwrap();
    }
    drop(db);
    let s = env.serve();
    let tok = s.login("alice", "correct horse");
    let ids: Vec<i64> = s.json(&tok, "/api/v1/tracks")["items"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), 3);
    for id in &ids {
        Server::expect_error(s.get(&tok, &format!("/hls/{id}/aac-96/0.m4s")), 422, "malformed");
        Server::expect_error(s.get(&tok, &format!("/api/v1/tracks/{id}/stream?format=mp3")), 422, "malformed");
        assert_eq!(s.http.delete(s.url(&format!("/api/v1/tracks/{id}"))).bearer_auth(&tok).send().unwrap().status(), 204);
    }
    assert!(rss_peak_mb(&s) < 300);
}
