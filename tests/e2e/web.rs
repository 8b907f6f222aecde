//! The web player in a real browser: Debian's headless Chromium driven by Playwright
//! (`tests/js/player.e2e.mjs`) against the real server, with files uploaded through the
//! page. Screenshots land in `target/e2e/`.

use crate::common;

use std::path::PathBuf;
use std::process::Command;

use common::{Env, Server};
use serde_json::Value;

/// A tagged FLAC of `secs` seconds of a tone (distinct per `freq`), made with ffmpeg.
fn flac(path: &std::path::Path, secs: u32, freq: u32, tags: &[(&str, &str)]) {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y", "-f", "lavfi", "-i", &format!("sine=f={freq}:r=44100:d={secs}"), "-ac", "2"]);
    for (k, v) in tags {
        cmd.args(["-metadata", &format!("{k}={v}")]);
    }
    assert!(cmd.arg(path).status().unwrap().success());
}

#[test]
fn the_player_uploads_plays_searches_and_keeps_users_apart_in_chromium() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let js = root.join("tests/js");
    assert!(js.join("node_modules/playwright-core").exists(), "run scripts/bootstrap.sh --test (npm ci in tests/js)");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(std::path::Path::new(&chromium).exists(), "Chromium is missing: scripts/bootstrap.sh --test installs it");

    let env = Env::new();
    // First run: the page says how to create the administrator.
    {
        let s = env.serve();
        let v: Value = s.http.get(s.url("/api/v1/setup")).send().unwrap().json().unwrap();
        assert_eq!(v["first_run"], true);
        let page = s.http.get(s.url("/")).send().unwrap();
        assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
        assert!(page.text().unwrap().contains("tonearm user add NAME --admin"));
        Server::expect_error(s.http.get(s.url("/nope.js")).send().unwrap(), 404, "not_found");
    }
    env.add_user("alice", "alice password");
    env.add_user("bob", "bob password");
    env.add_user("carol", "carol password");
    let fx = env.dir.path().join("fixtures");
    std::fs::create_dir_all(&fx).unwrap();
    let album = [("artist", "Sigur Rós"), ("album_artist", "Sigur Rós"), ("album", "Ágætis byrjun"), ("date", "1999")];
    flac(&fx.join("good1.flac"), 24, 330, &[&album[..], &[("title", "Svefn-g-englar"), ("track", "1")]].concat());
    flac(&fx.join("good2.flac"), 24, 440, &[&album[..], &[("title", "Starálfur"), ("track", "2")]].concat());
    std::fs::copy(common::testdata("bad/text.flac"), fx.join("bad.flac")).unwrap();
    // Large enough to pause mid-way on a throttled connection (about 1.8 MB).
    common::tone_wav(&fx.join("slow.wav"), 10.0, 9);
    let carol = env.dir.path().join("carol");
    std::fs::create_dir_all(&carol).unwrap();
    for i in 0..10 {
        flac(&carol.join(format!("{i:02}.flac")), 30, 200 + 37 * i, &[("title", &format!("Carol {i:02}")), ("artist", "Carol"), ("album", "Latency")]);
    }
    env.import("carol", &[carol]);

    let s = env.serve();
    let artifacts = root.join("target/e2e");
    let out = Command::new("node")
        .arg(js.join("player.e2e.mjs"))
        .args([&s.base, fx.to_str().unwrap(), artifacts.to_str().unwrap()])
        .env("CHROMIUM", &chromium)
        .output()
        .expect("running node");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "browser test failed: {text}\n{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_str(text.trim()).unwrap();
    eprintln!("web player e2e: {v}");
    for shot in ["library.png", "playing.png", "upload.png", "phone.png"] {
        assert!(artifacts.join(shot).exists(), "{shot} saved");
    }
    // The page's scripts and styles as sent (gzip), hls.js and tus-js-client included.
    let total: usize = tonearm::server::web::sizes().iter().map(|(_, _, gz)| gz).sum();
    eprintln!("web assets: {total} bytes gzip-compressed");
}
