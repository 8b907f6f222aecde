//! Several nodes behind a real nginx running the repository's own `config/nginx.conf`
//! (ports and paths swapped for the test's): segment requests are routed by the audio key
//! playlists put on their children, so two users' copies of the same recording are
//! encoded once in the cluster, on one node, whoever asks (seven copies with tags of their
//! own, from two users, cost one encode per segment); those nodes share one data dir,
//! or a catalog and a bucket in the PostgreSQL pass. And two nodes with data dirs of their
//! own on one PostgreSQL catalog and one S3 bucket share users, sessions, uploads (a tus
//! upload resumes on the other node), the signing key, now-playing notes, sign-in
//! throttling and invalidations, and keep no blob locally.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::common::{Env, Server, testdata};

fn nginx_binary() -> PathBuf {
    ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("nginx is needed: run scripts/bootstrap.sh --test (it installs Debian's nginx)")
}

struct Nginx {
    child: Child,
    base: String,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM to the master stops its workers too (SIGKILL would orphan them).
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

impl Nginx {
    /// Signs in through the balancer; the session token.
    fn login(&self, http: &reqwest::blocking::Client, user: &str, password: &str) -> String {
        let r = http.post(format!("{}/api/v1/auth/login", self.base)).body(format!(r#"{{"username":"{user}","password":"{password}"}}"#)).send().unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Value>().unwrap()["token"].as_str().unwrap().to_string()
    }
}

/// Two nodes of `env` behind the example nginx (which runs from the returned directory).
fn two_behind_nginx(env: &Env) -> (Server, Server, Nginx, tempfile::TempDir) {
    let (a, b) = (env.serve(), env.serve());
    let dir = tempfile::tempdir().unwrap();
    let lb = nginx(dir.path(), [&node(&a), &node(&b)]);
    (a, b, lb, dir)
}

/// A node's `host:port`.
fn node(s: &Server) -> String {
    s.base.trim_start_matches("http://").to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `config/nginx.conf` with the test's nodes, port and a private prefix in `dir`.
fn nginx(dir: &Path, nodes: [&str; 2]) -> Nginx {
    let conf = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/nginx.conf")).unwrap();
    let port = free_port();
    let d = dir.display();
    let conf = conf
        .replace("worker_processes auto;", &format!("worker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;"))
        .replace(
            "http {",
            &format!(
                "http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n  \
                 fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n  add_header X-Upstream $upstream_addr always;"
            ),
        )
        .replace("127.0.0.1:8081", nodes[0])
        .replace("127.0.0.1:8082", nodes[1])
        .replace("listen 8080;", &format!("listen 127.0.0.1:{port};"));
    assert_eq!(conf.matches(nodes[0]).count(), 2, "the example names node 1 in its two upstreams");
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let check = Command::new(nginx_binary()).arg("-t").arg("-p").arg(dir).arg("-c").arg(&path).output().unwrap();
    assert!(check.status.success(), "nginx -t: {}", String::from_utf8_lossy(&check.stderr));
    let mut child =
        Command::new(nginx_binary()).arg("-p").arg(dir).arg("-c").arg(&path).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Nginx { child, base };
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    let err = child.stderr.take().map(|e| BufReader::new(e).lines().map_while(Result::ok).collect::<Vec<_>>().join("\n")).unwrap_or_default();
    panic!("nginx did not start: {err}");
}

fn metric(s: &Server, name: &str) -> u64 {
    let text = s.http.get(s.url("/metrics")).send().unwrap().text().unwrap();
    text.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' '))).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

/// Cache hits and coalesced waits on both nodes: requests that cost no encode.
fn shared(nodes: &[&Server]) -> u64 {
    nodes.iter().map(|s| metric(s, "tonearm_segment_cache_hits_total") + metric(s, "tonearm_segment_coalesced_total")).sum()
}

#[test]
fn nginx_routes_every_segment_of_one_audio_to_one_node() {
    let env = Env::new();
    env.add_user("alice", "correct horse");
    env.add_user("bob", "battery staple");
    // The same three recordings in both libraries (their track ids differ).
    let files: Vec<PathBuf> =
        ["01 Svefn-g-englar.mp3", "02 Starálfur.mp3", "03 Flugufrelsarinn.mp3"].iter().map(|f| testdata("library/Sigur Rós - Ágætis byrjun").join(f)).collect();
    env.import("alice", &files);
    env.import("bob", &files);
    let (a, b, lb, _dir) = two_behind_nginx(&env);
    let http = reqwest::blocking::Client::new();
    let login = |u: &str, p: &str| lb.login(&http, u, p);
    let get = |t: &str, path: &str| http.get(format!("{}{path}", lb.base)).bearer_auth(t).send().unwrap();
    let (ta, tb) = (login("alice", "correct horse"), login("bob", "battery staple"));
    let ids = |t: &str| -> Vec<i64> {
        let v: Value = get(t, "/api/v1/tracks?limit=10").json().unwrap();
        let mut tracks: Vec<(String, i64)> =
            v["items"].as_array().unwrap().iter().map(|x| (x["title"].as_str().unwrap().to_string(), x["id"].as_i64().unwrap())).collect();
        tracks.sort();
        tracks.into_iter().map(|(_, id)| id).collect()
    };
    let (alice, bob) = (ids(&ta), ids(&tb));
    assert_eq!((alice.len(), bob.len()), (3, 3));
    assert_ne!(alice, bob, "each user has their own track ids");

    // Each user plays the first segment of every rung of every track, as a player would:
    // the URI from the media playlist, through the load balancer.
    let rungs = ["aac-96", "aac-192", "opus-64", "opus-128"];
    let play = |t: &str, ids: &[i64]| -> Vec<(String, String)> {
        let mut served = Vec::new();
        for id in ids {
            for rung in rungs {
                let pl = get(t, &format!("/hls/{id}/{rung}/index.m3u8")).text().unwrap();
                let uri = pl.lines().find(|l| l.starts_with("0.m4s")).unwrap_or_else(|| panic!("{pl}")).to_string();
                let r = get(t, &format!("/hls/{id}/{rung}/{uri}"));
                assert_eq!(r.status(), 200, "{uri}");
                let key = uri.split("a=").nth(1).unwrap_or("").chars().take(32).collect::<String>();
                served.push((key, r.headers()["x-upstream"].to_str().unwrap().to_string()));
                assert!(!r.bytes().unwrap().is_empty());
            }
        }
        served
    };
    let first = play(&ta, &alice);
    let before = shared(&[&a, &b]);
    let second = play(&tb, &bob);
    // Bob's twelve requests cost no encode anywhere: each reached the node that had it.
    assert_eq!(shared(&[&a, &b]) - before, 12, "one encode per segment in the cluster");
    assert_eq!(first, second, "the same audio key and the same node for both owners");
    // One key per recording, each served by one node.
    for key in first.iter().map(|(k, _)| k) {
        let nodes: std::collections::HashSet<&String> = first.iter().filter(|(k, _)| k == key).map(|(_, n)| n).collect();
        assert_eq!(nodes.len(), 1, "every rung of one audio on one node");
    }
    let keys: std::collections::HashSet<&String> = first.iter().map(|(k, _)| k).collect();
    assert_eq!(keys.len(), 3, "three recordings, three keys");

    // `kill -9` of the node that served Alice's first track: her player's next segment
    // comes from the other node, through the same balancer, without an error.
    let victim = first[0].1.clone();
    let pl = get(&ta, &format!("/hls/{}/aac-96/index.m3u8", alice[0])).text().unwrap();
    let next = pl.lines().rfind(|l| l.contains(".m4s")).unwrap().to_string();
    let (mut a, mut b) = (a, b);
    if victim == node(&a) {
        a.kill9()
    } else {
        b.kill9()
    }
    let r = get(&ta, &format!("/hls/{}/aac-96/{next}", alice[0]));
    assert_eq!(r.status(), 200);
    assert_ne!(r.headers()["x-upstream"].to_str().unwrap().rsplit(", ").next().unwrap(), victim, "served by the survivor");
    assert!(!r.bytes().unwrap().is_empty());
}

/// Waits up to two seconds for `f` to hold (an invalidation travels by LISTEN/NOTIFY).
fn soon(what: &str, f: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while !f() {
        assert!(std::time::Instant::now() < deadline, "{what}: not within 2 s");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn two_nodes_on_postgres_and_s3_share_users_keys_throttling_and_invalidations() {
    // Two nodes, each with a data dir of its own, on one catalog and one bucket.
    let mut env = Env::new();
    if env.catalog_url.is_none() {
        env.catalog_url = Some(crate::common::scratch_database());
        env.store = crate::common::scratch_bucket();
    }
    let mut other = Env::new();
    (other.catalog_url, other.store) = (env.catalog_url.clone(), env.store.clone());
    env.add_user("alice", "correct horse");
    let (a, b) = (env.serve(), other.serve());
    let ta = a.login("alice", "correct horse");

    // An upload on A is listed and found on B at once.
    let wav = crate::common::tone_wav(&env.dir.path().join("t.wav"), 3.0, 7);
    let r = a.http.post(a.url("/api/v1/tracks?filename=Nordlys.wav")).bearer_auth(&ta).body(wav).send().unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    let id = r.json::<Value>().unwrap()["id"].as_i64().unwrap();
    assert_eq!(b.json(&ta, "/api/v1/tracks")["total"], 1, "B sees A's upload and A's session");
    assert_eq!(b.json(&ta, "/api/v1/search?q=nordlys")["tracks"].as_array().unwrap().len(), 1, "and finds it");

    // A signed URL made by A plays on B: one signing key, kept in the catalog.
    let pb = a.json(&ta, &format!("/api/v1/tracks/{id}/playback"));
    let url = pb["stream"]["mp3"].as_str().unwrap();
    let r = b.http.get(b.url(url)).send().unwrap();
    assert_eq!(r.status(), 200);
    assert!(!r.bytes().unwrap().is_empty());
    assert_eq!(env.blobs(), 2, "the upload's two parts, in the bucket");

    // A tus upload started on A resumes on B: state in the catalog, bytes in the bucket,
    // in chunks of any size (not S3's 5 MiB multipart minimum), one with a checksum.
    let song = crate::common::tone_wav(&env.dir.path().join("tus.wav"), 4.0, 11);
    let tus = |s: &Server, method: reqwest::Method, path: &str| s.http.request(method, s.url(path)).bearer_auth(&ta).header("Tus-Resumable", "1.0.0");
    let patch = |s: &Server, url: &str, at: usize, bytes: &[u8]| {
        tus(s, reqwest::Method::PATCH, url)
            .header("Upload-Offset", at.to_string())
            .header("Content-Type", "application/offset+octet-stream")
            .body(bytes.to_vec())
            .send()
            .unwrap()
    };
    let r = tus(&a, reqwest::Method::POST, "/api/v1/uploads")
        .header("Upload-Length", song.len().to_string())
        .header("Upload-Metadata", "filename U3RhcmJvYXJkLndhdg==")
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let url = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(patch(&a, &url, 0, &song[..100_000]).status(), 204);
    let r = tus(&b, reqwest::Method::HEAD, &url).send().unwrap();
    assert_eq!(r.headers()["upload-offset"], "100000", "B knows the offset A reached");
    assert_eq!(patch(&b, &url, 0, &song[..10]).status(), 409, "and refuses a stale one");
    let sum = {
        use base64::Engine;
        use sha2::Digest;
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&song[100_000..250_000]))
    };
    let r = tus(&b, reqwest::Method::PATCH, &url)
        .header("Upload-Offset", "100000")
        .header("Upload-Checksum", format!("sha256 {sum}"))
        .header("Content-Type", "application/offset+octet-stream")
        .body(song[100_000..250_000].to_vec())
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = patch(&a, &url, 250_000, &song[250_000..]);
    assert_eq!(r.status(), 204, "finished on A again");
    let tus_id = r.headers()["tonearm-track-id"].to_str().unwrap().to_string();
    let done = b.json(&ta, &url);
    assert_eq!((done["state"].as_str(), done["track"]["id"].to_string()), (Some("done"), tus_id.clone()), "B reports the outcome: {done}");
    let r = b.get(&ta, &format!("/api/v1/tracks/{tus_id}/original"));
    assert!(r.bytes().unwrap() == song, "the track holds exactly the bytes sent to both nodes");
    assert_eq!(a.http.delete(a.url(&format!("/api/v1/tracks/{tus_id}"))).bearer_auth(&ta).send().unwrap().status(), 204);

    // A car on A says what it is playing; the phone asks B (a Subsonic now-playing note).
    let rest = |s: &Server, method: &str, q: &str| {
        let r = s.http.get(s.url(&format!("/rest/{method}?u=alice&p=correct%20horse&v=1.16.1&c=car&f=json{q}"))).send().unwrap();
        r.json::<Value>().unwrap()["subsonic-response"].clone()
    };
    assert_eq!(rest(&a, "scrobble", &format!("&id=tr-{id}&submission=false"))["status"], "ok");
    let np = rest(&b, "getNowPlaying", "")["nowPlaying"]["entry"].clone();
    assert_eq!((np[0]["id"].as_str(), np[0]["playerName"].as_str()), (Some(format!("tr-{id}").as_str()), Some("car")), "B knows what A was told: {np}");

    // A track B has just played, deleted on A, is gone on B (its playback cache heard it).
    assert_eq!(b.get(&ta, &format!("/hls/{id}/master.m3u8")).status(), 200);
    assert_eq!(a.http.delete(a.url(&format!("/api/v1/tracks/{id}"))).bearer_auth(&ta).send().unwrap().status(), 204);
    soon("the deleted track on B", || b.get(&ta, &format!("/hls/{id}/master.m3u8")).status() == 404);

    // A logout on A ends the session on B, whose session cache had it.
    assert_eq!(b.get(&ta, "/api/v1/me").status(), 200);
    assert_eq!(a.http.post(a.url("/api/v1/auth/logout")).bearer_auth(&ta).send().unwrap().status(), 204);
    soon("the ended session on B", || b.get(&ta, "/api/v1/me").status() == 401);

    // Failed sign-ins count across nodes: five (the per-user limit), split, lock the name.
    let fail = |s: &Server| s.http.post(s.url("/api/v1/auth/login")).body(r#"{"username":"alice","password":"wrong"}"#).send().unwrap().status();
    for s in [&a, &b, &a, &b, &a] {
        assert_eq!(fail(s), 401);
    }
    assert_eq!(fail(&b), 429, "the sixth failure, on B, is throttled");
    let r = a.http.post(a.url("/api/v1/auth/login")).body(r#"{"username":"alice","password":"correct horse"}"#).send().unwrap();
    assert_eq!(r.status(), 429, "even the right password waits out the window, on either node");

    for e in [&env, &other] {
        assert!(!e.data().join("secret.key").exists() && !e.data().join("subsonic.key").exists(), "no key file in a data dir");
        assert_eq!(crate::common::blob_files(&e.data()), 0, "no blob in a data dir");
        let local: Vec<_> = crate::common::walk(&e.data()).into_iter().filter(|p| !p.starts_with(e.data().join("cache"))).collect();
        assert!(
            local.iter().all(|p| !p.starts_with(e.data().join("tus")) && !p.starts_with(e.data().join("uploads"))),
            "no upload state or bytes left on a node: {local:?}"
        );
    }
}

#[test]
fn a_single_node_moves_onto_postgres_and_s3_resumably_and_verifiably() {
    let env = Env { catalog_url: None, store: Vec::new(), ..Env::new() };
    env.add_user("alice", "correct horse");
    env.import("alice", &[testdata("library/Björk - Homogenic")]);
    let (tracks, signed, original) = {
        let s = env.serve();
        let t = s.login("alice", "correct horse");
        let list = s.json(&t, "/api/v1/tracks");
        let id = list["items"][0]["id"].as_i64().unwrap();
        let signed = s.json(&t, &format!("/api/v1/tracks/{id}/playback"))["stream"]["original"].as_str().unwrap().to_string();
        let original = s.http.get(s.url(&signed)).send().unwrap().bytes().unwrap();
        (list["total"].as_u64().unwrap(), signed, original)
    };
    let (db, bucket) = (crate::common::scratch_database(), crate::common::scratch_bucket());
    let store_url = bucket.iter().find(|(k, _)| *k == "TONEARM_STORE__URL").unwrap().1.clone();
    let access: Vec<(&str, String)> = bucket.iter().filter(|(k, _)| *k != "TONEARM_STORE__URL").cloned().collect();
    let migrate = || {
        let out = env.cli_with(&["migrate", "--to-catalog", &db, "--to-store", &store_url, "--quiet"], None, &access);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let first = migrate();
    assert_eq!(first["catalog"]["tracks"]["added"], tracks);
    assert!(first["blobs"]["copied"].as_u64().unwrap() >= tracks);
    let again = migrate();
    assert_eq!(again["blobs"]["copied"], 0, "resumable: nothing is copied twice ({again})");
    assert_eq!(again["catalog"]["tracks"]["added"], 0);

    // A new node with an empty data dir, on the new catalog and bucket: `check` is clean,
    // the library is whole, and a URL the old node signed still plays.
    let new = Env { catalog_url: Some(db), store: bucket, ..Env::new() };
    let check: Value = serde_json::from_str(&new.ok(&["check"], None)).unwrap();
    assert_eq!((check["missing"].as_array().unwrap().len(), check["wrong_size"].as_array().unwrap().len()), (0, 0), "{check}");
    assert_eq!(check["referenced"], check["stored"]);
    let s = new.serve();
    let t = s.login("alice", "correct horse");
    assert_eq!(s.json(&t, "/api/v1/tracks")["total"], tracks);
    let r = s.http.get(s.url(&signed)).send().unwrap();
    assert_eq!(r.status(), 200, "a URL signed before the move");
    assert!(r.bytes().unwrap() == original, "the same bytes, now from the bucket");
    assert_eq!(crate::common::blob_files(&new.data()), 0);
}

#[test]
fn seven_copies_of_one_audio_are_encoded_once_in_the_cluster() {
    let env = Env::new();
    env.add_user("alice", "correct horse");
    env.add_user("bob", "battery staple");
    let (a, b, lb, _dir) = two_behind_nginx(&env);
    let http = reqwest::blocking::Client::new();
    let login = |u: &str, p: &str| lb.login(&http, u, p);
    let (ta, tb) = (login("alice", "correct horse"), login("bob", "battery staple"));

    // Seven copies of one recording, each with tags of its own (four Alice's, three Bob's),
    // uploaded through the balancer (so onto either node).
    let wav = env.dir.path().join("long.wav");
    crate::common::tone_wav(&wav, 25.0, 3);
    let flac = env.dir.path().join("long.flac");
    let st = Command::new("ffmpeg").args(["-v", "error", "-y", "-i"]).arg(&wav).arg(&flac).status().unwrap();
    assert!(st.success());
    let hunter = std::fs::read(&flac).unwrap();
    let mut copies = Vec::new();
    for i in 0..7 {
        let tok = if i < 4 { &ta } else { &tb };
        let title = format!("Hunter, copy {i}");
        let flac = crate::uploads::retag_flac(&hunter, &[("TITLE", &title), ("ARTIST", "Björk"), ("COMMENT", &"x".repeat(i * 100))]);
        let r = http.post(format!("{}/api/v1/tracks?filename=hunter{i}.flac", lb.base)).bearer_auth(tok).body(flac).send().unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().unwrap());
        copies.push((tok.clone(), r.json::<Value>().unwrap()["id"].as_i64().unwrap()));
    }
    let encoded = || metric(&a, "tonearm_segments_encoded_total") + metric(&b, "tonearm_segments_encoded_total");
    // A player's fetches: each media playlist's init section and every segment, on two
    // rungs, by the URIs the playlists give (every segment: nothing is left to prefetch).
    // Answers how many media segments it fetched (init sections are not encodes).
    let play = |tok: &str, id: i64| -> usize {
        let mut n = 0;
        for rung in ["aac-96", "opus-128"] {
            let pl = http.get(format!("{}/hls/{id}/{rung}/index.m3u8", lb.base)).bearer_auth(tok).send().unwrap().text().unwrap();
            let init = pl.lines().find_map(|l| l.split("URI=\"").nth(1).map(|u| u.trim_end_matches('"').to_string())).unwrap_or_else(|| panic!("{pl}"));
            let uris = std::iter::once(init).chain(pl.lines().filter(|l| l.contains(".m4s")).map(str::to_string));
            for uri in uris {
                let r = http.get(format!("{}/hls/{id}/{rung}/{uri}", lb.base)).bearer_auth(tok).send().unwrap();
                assert_eq!(r.status(), 200, "{uri}");
                assert!(!r.bytes().unwrap().is_empty());
                n += usize::from(uri.contains(".m4s"));
            }
        }
        n
    };
    // Both nodes idle (the prefetch of what a play asked for runs after the answers).
    let idle = || {
        let busy = |s: &Server| metric(s, "tonearm_transcode_running") + metric(s, "tonearm_transcode_queue_depth");
        soon("both nodes idle", || busy(&a) + busy(&b) == 0);
    };
    let before = encoded();
    let (tok, id) = copies[0].clone();
    let fetched = play(&tok, id) as u64;
    idle();
    let once = encoded() - before;
    assert!(fetched >= 10, "{fetched} segments");
    assert_eq!(once, fetched, "each segment of the first copy encoded once");
    // The other six, all at once, from both users: not one more encode in the cluster.
    std::thread::scope(|s| {
        for (tok, id) in &copies[1..] {
            s.spawn(|| play(tok, *id));
        }
    });
    idle();
    assert_eq!(encoded() - before, once, "seven copies, one encode per segment in the cluster");
}
