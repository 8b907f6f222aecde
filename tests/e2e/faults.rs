//! The engines failing under a running node: PostgreSQL stopped and started again, the S3
//! gateway stopped and started again, each in the middle of uploads and playback. This
//! test runs its own PostgreSQL cluster and its own radosgw (the shared ones keep serving
//! the other tests), through the repository's scripts.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{Env, Server, tone_wav};

fn script(args: &[&str]) -> String {
    let out = Command::new("bash").args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap();
    assert!(out.status.success(), "{args:?}: {} {}\n{}", out.status, String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Stops a script-started server when the test ends, however it ends.
struct Down(&'static str, String);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = Command::new("bash").args([self.0, "down", &self.1]).current_dir(env!("CARGO_MANIFEST_DIR")).status();
    }
}

/// Waits up to 20 s for `f`.
fn within(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "{what}: not within 20 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A 503 in the JSON envelope with Retry-After, answered quickly.
fn unavailable(s: &Server, tok: &str, path: &str) {
    let t = Instant::now();
    let r = s.get(tok, path);
    assert!(t.elapsed() < Duration::from_secs(10), "{path} took {:?}", t.elapsed());
    assert_eq!(r.status(), 503, "{path}");
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(r.json::<Value>().unwrap()["error"]["code"], "unavailable");
}

fn upload(s: &Server, tok: &str, dir: &Path, name: &str, seed: u32) -> reqwest::blocking::Response {
    let wav = tone_wav(&dir.join(name), 8.0, seed);
    s.http.post(s.url(&format!("/api/v1/tracks?filename={name}"))).bearer_auth(tok).body(wav).send().unwrap()
}

#[test]
fn postgres_and_s3_outages_answer_503_keep_warm_playback_and_heal() {
    let tmp = tempfile::tempdir().unwrap();
    let (pg_dir, s3_dir) = (tmp.path().join("pg").display().to_string(), tmp.path().join("s3").display().to_string());
    let url = script(&["scripts/postgres.sh", "up", &pg_dir]).trim().to_string();
    let _pg = Down("scripts/postgres.sh", pg_dir.clone());
    let s3: Vec<(String, String)> =
        script(&["scripts/s3.sh", "up", &s3_dir]).lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let _s3 = Down("scripts/s3.sh", s3_dir.clone());
    let get = |k: &str| s3.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap();
    let mut env = Env::new();
    env.catalog_url = Some(url);
    env.store = vec![
        ("TONEARM_STORE__URL", format!("s3://{}/faults", get("S3_BUCKET"))),
        ("TONEARM_STORE__ENDPOINT", get("S3_ENDPOINT")),
        ("TONEARM_STORE__REGION", get("S3_REGION")),
        ("TONEARM_STORE__ACCESS_KEY_ID", get("S3_ACCESS_KEY")),
        ("TONEARM_STORE__SECRET_ACCESS_KEY", get("S3_SECRET_KEY")),
        ("TONEARM_STORE__ALLOW_HTTP", "true".into()),
    ];
    env.add_user("alice", "correct horse");
    let s = env.serve();
    let tok = s.login("alice", "correct horse");
    let r = upload(&s, &tok, tmp.path(), "Dawn.wav", 1);
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().unwrap()["id"].as_i64().unwrap();
    let playlist = s.get(&tok, &format!("/hls/{id}/aac-96/index.m3u8")).text().unwrap();
    let segments: Vec<String> = playlist.lines().filter(|l| l.contains(".m4s")).map(|l| format!("/hls/{id}/aac-96/{l}")).collect();
    let warm = &segments[0];
    assert_eq!(s.get(&tok, warm).status(), 200);
    // A second segment: playback goes on, so the original is fetched into the local cache.
    assert_eq!(s.get(&tok, &segments[1]).status(), 200);

    // PostgreSQL stops: catalog reads and uploads fail fast with 503; the warm segment
    // still plays from the cache.
    script(&["scripts/postgres.sh", "stop", &pg_dir]);
    unavailable(&s, &tok, "/api/v1/albums");
    let r = s.get(&tok, warm);
    assert_eq!(r.status(), 200, "a warm segment plays through the outage");
    let r = upload(&s, &tok, tmp.path(), "Dusk.wav", 2);
    assert_eq!(r.status(), 503, "an upload while the catalog is down");
    script(&["scripts/postgres.sh", "start", &pg_dir]);
    within("the catalog is back", || s.get(&tok, "/api/v1/tracks").status() == 200);
    assert_eq!(s.json(&tok, "/api/v1/tracks")["total"], 1, "the failed upload left no track");

    // The S3 gateway stops: an upload fails fast with 503 and leaves no track; the played
    // original is in the local cache, so its cold segments still encode.
    script(&["scripts/s3.sh", "stop-gateway", &s3_dir]);
    let t = Instant::now();
    let r = upload(&s, &tok, tmp.path(), "Noon.wav", 3);
    assert_eq!(r.status(), 503, "an upload while the store is down: {}", r.text().unwrap());
    assert!(t.elapsed() < Duration::from_secs(20));
    let cold = segments.last().unwrap();
    assert_eq!(s.get(&tok, cold).status(), 200, "a cold segment of a cached original");
    script(&["scripts/s3.sh", "start-gateway", &s3_dir]);
    within("the store is back", || upload(&s, &tok, tmp.path(), "Night.wav", 4).status() == 201);
    let titles: Vec<String> =
        s.json(&tok, "/api/v1/tracks")["items"].as_array().unwrap().iter().map(|t| t["title"].as_str().unwrap_or("").to_string()).collect();
    assert_eq!(titles.len(), 2, "{titles:?}");
    let check: Value = serde_json::from_str(&env.ok(&["check"], None)).unwrap();
    assert_eq!(check["missing"].as_array().unwrap().len(), 0, "no reference without its blob: {check}");
}
