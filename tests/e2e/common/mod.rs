//! Test harness: runs the real `tonearm` binary (the same one the README starts) against a
//! temporary data directory, on 127.0.0.1 port 0, and talks to it over real HTTP.
//! With `TONEARM_TEST_CATALOG=postgres` every environment keeps its catalog in a fresh
//! database of the cluster `TONEARM_TEST_POSTGRES` names and its blobs under a prefix of
//! its own in the S3 server `TONEARM_TEST_S3` names (`scripts/test.sh` runs the library,
//! upload, HLS, service, crash and cluster tests a second time that way).
#![allow(dead_code)]

pub mod wav;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use reqwest::blocking::{Client, Response};
use serde_json::Value;

/// The binary under test; `TONEARM_BIN` points the same tests at another build (e.g.
/// `target/release/tonearm` to take the web player's latency figure from a release build).
pub fn bin() -> String {
    std::env::var("TONEARM_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_tonearm").to_string())
}

pub fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(rel)
}

pub struct Env {
    pub dir: tempfile::TempDir,
    /// The PostgreSQL catalog this environment uses (`None`: SQLite in the data dir).
    pub catalog_url: Option<String>,
    /// The `TONEARM_STORE__*` settings of its object store (empty: blobs in the data dir).
    pub store: Vec<(&'static str, String)>,
}

/// Settings for a new prefix of the S3 test server (`http://KEY:SECRET@HOST:PORT/BUCKET`).
pub fn scratch_bucket() -> Vec<(&'static str, String)> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let url = std::env::var("TONEARM_TEST_S3").expect("TONEARM_TEST_S3 names the S3 test server (scripts/test.sh starts one)");
    let rest = url.strip_prefix("http://").expect("http://KEY:SECRET@HOST:PORT/BUCKET");
    let (creds, rest) = rest.split_once('@').unwrap();
    let (key, secret) = creds.split_once(':').unwrap();
    let (host, bucket) = rest.split_once('/').unwrap();
    vec![
        ("TONEARM_STORE__URL", format!("s3://{bucket}/e2e-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))),
        ("TONEARM_STORE__ENDPOINT", format!("http://{host}")),
        ("TONEARM_STORE__REGION", "us-east-1".into()),
        ("TONEARM_STORE__ACCESS_KEY_ID", key.into()),
        ("TONEARM_STORE__SECRET_ACCESS_KEY", secret.into()),
        ("TONEARM_STORE__ALLOW_HTTP", "true".into()),
    ]
}

/// Whether this run keeps catalogs in PostgreSQL (`TONEARM_TEST_CATALOG=postgres`).
pub fn on_postgres() -> bool {
    std::env::var("TONEARM_TEST_CATALOG").is_ok_and(|v| v == "postgres")
}

/// A new, empty database in the test cluster; its URL.
pub fn scratch_database() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let cluster = std::env::var("TONEARM_TEST_POSTGRES").expect("TONEARM_TEST_POSTGRES names the test cluster (scripts/test.sh starts one)");
    let name = format!("e2e_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    let mut admin = postgres::Client::connect(&cluster, postgres::NoTls).expect("connecting to the test cluster");
    admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    let base = cluster.rsplit_once('/').map_or(cluster.as_str(), |(b, _)| b);
    format!("{base}/{name}")
}

impl Env {
    pub fn new() -> Env {
        let shared = on_postgres();
        Env {
            dir: tempfile::tempdir().expect("tempdir"),
            catalog_url: shared.then(scratch_database),
            store: if shared { scratch_bucket() } else { Vec::new() },
        }
    }

    /// The `TONEARM_*` settings every process of this environment runs with.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        self.catalog_url.iter().map(|u| ("TONEARM_CATALOG__URL", u.clone())).chain(self.store.iter().cloned()).collect()
    }

    /// The key signed URLs are made with, wherever this environment keeps it.
    pub fn signing_key(&self) -> Vec<u8> {
        match &self.catalog_url {
            Some(url) => self.pg(url).query_one("SELECT key FROM server_keys WHERE name = 'signing'", &[]).unwrap().get(0),
            None => std::fs::read(self.data().join("secret.key")).unwrap(),
        }
    }

    /// A user's password hash, as the catalog keeps it.
    pub fn password_hash(&self, user: i64) -> String {
        match &self.catalog_url {
            Some(url) => self.pg(url).query_one("SELECT password_hash FROM users WHERE id = $1", &[&user]).unwrap().get(0),
            None => rusqlite::Connection::open(self.data().join("tonearm.db"))
                .unwrap()
                .query_row("SELECT password_hash FROM users WHERE id = ?1", [user], |r| r.get(0))
                .unwrap(),
        }
    }

    /// Blobs in this environment's store: files under `data/blobs`, or objects under its
    /// prefix of the S3 server.
    pub fn blobs(&self) -> usize {
        if self.store.is_empty() {
            return blob_files(&self.data());
        }
        use futures_util::StreamExt;
        use object_store::ObjectStore;
        let get = |k: &str| self.store.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()).unwrap_or_default();
        let url = get("TONEARM_STORE__URL");
        let (bucket, prefix) = url.trim_start_matches("s3://").split_once('/').unwrap();
        let s3 = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_endpoint(get("TONEARM_STORE__ENDPOINT"))
            .with_region(get("TONEARM_STORE__REGION"))
            .with_access_key_id(get("TONEARM_STORE__ACCESS_KEY_ID"))
            .with_secret_access_key(get("TONEARM_STORE__SECRET_ACCESS_KEY"))
            .with_allow_http(true)
            .build()
            .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let listed = object_store::path::Path::from(format!("{prefix}/blobs"));
        rt.block_on(async { s3.list(Some(&listed)).filter(|r| std::future::ready(r.is_ok())).count().await })
    }

    fn pg(&self, url: &str) -> postgres::Client {
        postgres::Client::connect(url, postgres::NoTls).unwrap()
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        self.cli_with(args, stdin, &[])
    }

    /// Runs the CLI with extra `TONEARM_*` settings.
    pub fn cli_with(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, String)]) -> Output {
        let mut cmd = Command::new(bin());
        cmd.arg("--data-dir").arg(self.data()).args(args).env("RUST_LOG", "warn").envs(self.settings()).envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() }).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn tonearm");
        if let Some(s) = stdin {
            child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
        }
        child.wait_with_output().expect("wait tonearm")
    }

    pub fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.cli(args, stdin);
        assert!(out.status.success(), "tonearm {args:?} failed: {}\n{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn add_user(&self, name: &str, password: &str) {
        self.ok(&["user", "add", name, "--password-stdin"], Some(&format!("{password}\n")));
    }

    /// Runs `tonearm import` and returns its summary.
    pub fn import(&self, user: &str, paths: &[PathBuf]) -> Summary {
        let mut args: Vec<String> = vec!["import".into(), "--user".into(), user.into(), "--quiet".into()];
        args.extend(paths.iter().map(|p| p.to_string_lossy().into_owned()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        Summary::parse(&self.ok(&refs, None))
    }

    pub fn serve(&self) -> Server {
        self.serve_with(&[])
    }

    /// Starts the server with extra `TONEARM_*` environment settings.
    pub fn serve_with(&self, env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(bin())
            .arg("--data-dir")
            .arg(self.data())
            .args(["--bind", "127.0.0.1:0", "serve"])
            .env("RUST_LOG", "info")
            .envs(self.settings())
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn server");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent && let Some(i) = line.find("listening on ") {
                    // `http://ADDR` or `https://ADDR`.
                    let url = line[i + "listening on ".len()..].split_whitespace().next().unwrap_or("").to_string();
                    let _ = tx.send(url);
                    sent = true;
                }
                if std::env::var_os("TONEARM_TEST_LOGS").is_some() {
                    eprintln!("[server] {line}");
                }
            }
        });
        let base = rx.recv_timeout(Duration::from_secs(30)).expect("server did not report its address");
        Server { child, base, http: Client::builder().timeout(Duration::from_secs(30)).build().unwrap() }
    }
}

pub struct Server {
    child: Child,
    pub base: String,
    pub http: Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return; // already gone (killed)
        }
        // SIGTERM first: the server shuts down gracefully.
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Kills the server with SIGKILL (no shutdown, no flushing): a crash.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn login(&self, user: &str, password: &str) -> String {
        let r = self.http.post(self.url("/api/v1/auth/login")).body(format!(r#"{{"username":"{user}","password":"{password}"}}"#)).send().unwrap();
        assert_eq!(r.status(), 200, "login failed");
        r.json::<Value>().unwrap()["token"].as_str().unwrap().to_string()
    }

    /// Waits (up to a minute) until the background pass has measured the loudness of every
    /// track of `user`, so that answers that carry it no longer change. A ReplayGain tag
    /// gives a track's loudness before the pass reaches it, but its album's only follows
    /// from every track's measurement: both are waited for.
    pub fn wait_measured(&self, user: &str, password: &str) {
        let tok = self.login(user, password);
        let started = std::time::Instant::now();
        loop {
            let items = self.json(&tok, "/api/v1/tracks?limit=1000")["items"].as_array().cloned().unwrap_or_default();
            if items.iter().all(|t| !t["loudness"]["track_lufs"].is_null() && !t["loudness"]["album_lufs"].is_null()) {
                return;
            }
            assert!(started.elapsed() < std::time::Duration::from_secs(60), "loudness never measured: {items:?}");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    pub fn get(&self, token: &str, path: &str) -> Response {
        self.http.get(self.url(path)).bearer_auth(token).send().unwrap()
    }

    pub fn json(&self, token: &str, path: &str) -> Value {
        let r = self.get(token, path);
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().unwrap()
    }

    /// Asserts a JSON error with `status` and `code`.
    pub fn expect_error(r: Response, status: u16, code: &str) {
        assert_eq!(r.status().as_u16(), status);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
        let v: Value = r.json().unwrap();
        assert_eq!(v["error"]["code"], code, "{v}");
        assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

/// The import summary as printed by `tonearm import`.
#[derive(Debug, Default)]
pub struct Summary {
    pub imported: usize,
    pub already: usize,
    pub skipped: usize,
    pub damaged: Vec<String>,
    pub rejected: Vec<(String, String)>,
    pub text: String,
}

impl Summary {
    fn parse(text: &str) -> Summary {
        let mut s = Summary { text: text.to_string(), ..Default::default() };
        let mut section = "";
        for line in text.lines() {
            let num = |l: &str| l.split(|c: char| !c.is_ascii_digit()).find(|x| !x.is_empty()).and_then(|x| x.parse().ok()).unwrap_or(0);
            if let Some(rest) = line.strip_prefix("imported but damaged: ") {
                section = "damaged";
                let _ = rest;
            } else if line.starts_with("imported ") {
                s.imported = num(line);
            } else if line.starts_with("already present: ") {
                s.already = num(line);
            } else if line.starts_with("skipped ") {
                s.skipped = line.rsplit(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0);
            } else if line.starts_with("rejected: ") {
                section = "rejected";
            } else if let Some(item) = line.strip_prefix("  ") {
                match section {
                    "damaged" => s.damaged.push(item.to_string()),
                    "rejected" => {
                        let code = item.split('[').nth(1).and_then(|x| x.split(']').next()).unwrap_or("").to_string();
                        s.rejected.push((item.to_string(), code));
                    }
                    _ => {}
                }
            }
        }
        s
    }
}

/// Counts the blobs in a data directory's store.
pub fn blob_files(data: &Path) -> usize {
    walk(&data.join("blobs")).into_iter().filter(|p| !p.starts_with(data.join("blobs/tmp"))).count()
}

pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
        }
    }
    out
}

/// Playable length in seconds as ffmpeg sees it, and the sample rate. `None` without ffmpeg.
///
/// ffmpeg 5.1's decoder trims encoder priming everywhere (LAME header, MP4 edit list start,
/// Opus pre-skip) but not the end padding an MP4 edit list cuts; ffprobe's stream duration
/// honours the edit list but not the LAME header, and trusts a truncated FLAC's STREAMINFO.
/// The playable length is therefore the smaller of the decoded sample count and the stream
/// duration.
pub fn ffmpeg_seconds(path: &Path) -> Option<(f64, u32)> {
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "a:0", "-show_entries", "stream=sample_rate,duration", "-of", "default=nw=1"])
        .arg(path)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&probe.stdout).into_owned();
    let field = |k: &str| text.lines().find_map(|l| l.strip_prefix(k)).map(str::trim).map(str::to_string);
    let rate: u32 = field("sample_rate=")?.parse().ok()?;
    let stream_secs: f64 = field("duration=").and_then(|d| d.parse().ok()).unwrap_or(f64::MAX);
    let out = Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(path).args(["-map", "0:a:0", "-ac", "1", "-f", "s32le", "-"]).output().ok()?;
    assert!(out.status.success(), "ffmpeg failed to decode {}", path.display());
    let decoded = (out.stdout.len() / 4) as f64 / rate as f64;
    Some((decoded.min(stream_secs), rate))
}

pub fn have_ffmpeg() -> bool {
    Command::new("ffmpeg").arg("-version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// A WAV of `secs` seconds of a chord that depends on `seed` (distinct audio per seed).
pub fn tone_wav(path: &Path, secs: f64, seed: u32) -> Vec<u8> {
    let rate = 44_100u32;
    let n = (secs * rate as f64) as usize;
    let f = 220.0 + seed as f64 * 7.0;
    let samples: Vec<i16> = (0..n * 2)
        .map(|i| {
            let t = (i / 2) as f64 / rate as f64;
            let v = 0.3 * (2.0 * std::f64::consts::PI * f * t).sin() + 0.2 * (2.0 * std::f64::consts::PI * f * 1.5 * t).sin();
            (v * 32767.0) as i16
        })
        .collect();
    wav::write_wav(path, rate, 2, &samples);
    std::fs::read(path).unwrap()
}

/// Seconds since the Unix epoch.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}
