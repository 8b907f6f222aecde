//! End-to-end: import real fixtures with the CLI, then read the library over HTTP from a
//! real server on an ephemeral port.

use crate::common;

use std::collections::HashMap;

use common::{Env, Server, testdata};
use serde_json::Value;

const PW: &str = "correct horse battery";
const AUDIO_FILES: usize = 12;

fn setup_alice() -> (Env, Server, String) {
    let env = Env::new();
    env.add_user("alice", PW);
    let s = env.import("alice", &[testdata("library")]);
    assert_eq!(s.imported, AUDIO_FILES, "{}", s.text);
    assert!(s.rejected.is_empty(), "{}", s.text);
    assert_eq!(s.skipped, 1, "the side-car cover.jpg is skipped, not rejected: {}", s.text);
    let server = env.serve();
    let token = server.login("alice", PW);
    (env, server, token)
}

fn by_title(items: &Value) -> HashMap<String, Value> {
    items.as_array().unwrap().iter().map(|t| (t["title"].as_str().unwrap().to_string(), t.clone())).collect()
}

#[test]
fn import_builds_the_library_from_tags() {
    let (_env, s, tok) = setup_alice();
    let tracks = s.json(&tok, "/api/v1/tracks?limit=100");
    assert_eq!(tracks["total"], AUDIO_FILES);
    let t = by_title(&tracks["items"]);
    let hunter = &t["Hunter"];
    for key in [
        "id",
        "title",
        "artist",
        "album",
        "album_artist",
        "track_number",
        "disc_number",
        "year",
        "genre",
        "duration",
        "codec",
        "sample_rate",
        "channels",
        "bitrate",
        "size",
        "album_id",
    ] {
        assert!(hunter.get(key).is_some(), "track lacks {key}");
    }
    assert_eq!(hunter["artist"], "Björk");
    assert_eq!(hunter["album"], "Homogenic");
    assert_eq!(hunter["album_artist"], "Björk");
    assert_eq!(hunter["track_number"], 1);
    assert_eq!(hunter["track_total"], 10);
    assert_eq!(hunter["disc_number"], 1);
    assert_eq!(hunter["year"], 1997);
    assert_eq!(hunter["genre"], "Electronic");
    assert_eq!(hunter["codec"], "flac");
    assert_eq!(hunter["sample_rate"], 44100);
    assert_eq!(hunter["channels"], 2);
    assert_eq!(hunter["bit_depth"], 16);
    assert_eq!(hunter["duration"], 2.0);
    assert_eq!(hunter["replaygain"]["track_gain"], -6.54);
    assert_eq!(hunter["musicbrainz_track_id"], "9f3c6b2a-1b8e-4f77-9a43-7d2a3e3c0a11");
    assert_eq!(t["Hi-Res Test"]["sample_rate"], 192000);
    assert_eq!(t["Hi-Res Test"]["bit_depth"], 24);
    assert_eq!(t["Side A"]["codec"], "aac");
    assert_eq!(t["坂本龍一の歌"]["codec"], "alac");
    assert_eq!(t["Opus Song"]["codec"], "opus");
    assert_eq!(t["Vorbis Song"]["codec"], "vorbis");
    assert_eq!(t["Old Tag"]["artist"], "ID3v1 Band");
    // No tags at all: the file name is the title of last resort.
    assert_eq!(t["plain"]["artist"], "Unknown Artist");
    // Paging.
    let page = s.json(&tok, "/api/v1/tracks?limit=5&offset=10");
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["total"], AUDIO_FILES);
}

#[test]
fn albums_group_and_order() {
    let (_env, s, tok) = setup_alice();
    let albums = s.json(&tok, "/api/v1/albums");
    let list = albums["items"].as_array().unwrap();
    let find = |title: &str| list.iter().find(|a| a["title"] == title).unwrap_or_else(|| panic!("no album {title}: {albums}")).clone();
    let homogenic = find("Homogenic");
    assert_eq!(homogenic["artist"], "Björk");
    assert_eq!(homogenic["track_count"], 2);
    assert_eq!(homogenic["has_cover"], true, "side-car cover.jpg");
    // No album-artist tag, one artist in the folder: that artist.
    let agaetis = find("Ágætis byrjun");
    assert_eq!(agaetis["artist"], "Sigur Rós");
    assert_eq!(agaetis["track_count"], 3);
    assert_eq!(agaetis["has_cover"], true, "embedded cover in the MP3");
    // No album-artist tag, two artists in one folder: a compilation.
    let mix = find("Mix Tape");
    assert_eq!(mix["artist"], "Various Artists");
    assert_eq!(mix["compilation"], true);
    assert_eq!(mix["track_count"], 2);

    let detail = s.json(&tok, &format!("/api/v1/albums/{}", agaetis["id"]));
    let titles: Vec<&str> = detail["tracks"].as_array().unwrap().iter().map(|t| t["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Svefn-g-englar", "Starálfur", "Flugufrelsarinn"]);
    let detail = s.json(&tok, &format!("/api/v1/albums/{}", homogenic["id"]));
    let titles: Vec<&str> = detail["tracks"].as_array().unwrap().iter().map(|t| t["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Hunter", "Jóga"]);

    // Default order is by album artist: Björk before Sigur Rós before Various Artists.
    let order: Vec<&str> = list.iter().map(|a| a["artist"].as_str().unwrap()).collect();
    let pos = |name: &str| order.iter().position(|a| *a == name).unwrap();
    assert!(pos("Björk") < pos("Sigur Rós") && pos("Sigur Rós") < pos("Various Artists"), "{order:?}");

    // Artists: their albums.
    let artists = s.json(&tok, "/api/v1/artists");
    let bjork = artists["items"].as_array().unwrap().iter().find(|a| a["name"] == "Björk").unwrap().clone();
    assert_eq!(bjork["album_count"], 1);
    assert_eq!(bjork["track_count"], 2);
    let detail = s.json(&tok, &format!("/api/v1/artists/{}", bjork["id"]));
    assert_eq!(detail["albums"][0]["title"], "Homogenic");
    // Ane Brun appears on the compilation.
    let ane = artists["items"].as_array().unwrap().iter().find(|a| a["name"] == "Ane Brun").unwrap().clone();
    let detail = s.json(&tok, &format!("/api/v1/artists/{}", ane["id"]));
    assert_eq!(detail["albums"][0]["title"], "Mix Tape");
}

#[test]
fn search_ignores_case_and_diacritics() {
    let (_env, s, tok) = setup_alice();
    let titles = |q: &str| -> Vec<String> {
        let v = s.json(&tok, &format!("/api/v1/search?q={}", urlencode(q)));
        v["tracks"].as_array().unwrap().iter().map(|t| t["title"].as_str().unwrap().to_string()).collect()
    };
    let mut bjork = titles("bjork");
    bjork.sort();
    assert_eq!(bjork, ["Hunter", "Jóga"]);
    assert_eq!(titles("BJÖRK joga"), ["Jóga"]);
    assert_eq!(titles("sigur ros").len(), 3);
    assert_eq!(titles("agaetis").len(), 3);
    assert_eq!(titles("motley crue"), ["Vorbis Song"]);
    assert_eq!(titles("royksopp"), ["Opus Song"]);
    assert_eq!(titles("坂本龍一"), ["坂本龍一の歌"]);
    assert_eq!(titles("starálf"), ["Starálfur"], "prefix search for search-as-you-type");
    assert!(titles("zzzz nothing").is_empty());
    assert!(titles("\"( AND * NEAR").is_empty(), "FTS syntax in the query is just text");
    let v = s.json(&tok, "/api/v1/search?q=sigur%20ros");
    assert_eq!(v["artists"][0]["name"], "Sigur Rós");
    assert_eq!(v["albums"][0]["title"], "Ágætis byrjun");
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

#[test]
fn original_download_with_ranges() {
    let (_env, s, tok) = setup_alice();
    let tracks = s.json(&tok, "/api/v1/tracks?limit=100");
    let hunter = by_title(&tracks["items"])["Hunter"].clone();
    let src = std::fs::read(testdata("library/Björk - Homogenic/01 Hunter.flac")).unwrap();
    let url = format!("/api/v1/tracks/{}/original", hunter["id"]);

    let r = s.get(&tok, &url);
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "audio/flac");
    assert_eq!(r.headers()["accept-ranges"], "bytes");
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    assert!(r.headers()["content-disposition"].to_str().unwrap().contains("filename*=UTF-8''01%20Hunter.flac"));
    assert_eq!(r.bytes().unwrap().as_ref(), &src[..], "byte-identical original");

    let ranged = |range: &str| s.http.get(s.url(&url)).bearer_auth(&tok).header("Range", range).send().unwrap();
    let r = ranged("bytes=100-1099");
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], format!("bytes 100-1099/{}", src.len()));
    assert_eq!(r.bytes().unwrap().as_ref(), &src[100..1100]);
    let r = ranged("bytes=-500");
    assert_eq!(r.bytes().unwrap().as_ref(), &src[src.len() - 500..]);
    let r = ranged(&format!("bytes={}-", src.len() - 10));
    assert_eq!(r.bytes().unwrap().as_ref(), &src[src.len() - 10..]);
    let r = ranged(&format!("bytes={}-", src.len()));
    assert_eq!(r.headers()["content-range"], format!("bytes */{}", src.len()));
    Server::expect_error(r, 416, "range_not_satisfiable");

    let r = s.http.get(s.url(&url)).bearer_auth(&tok).header("If-None-Match", &etag).send().unwrap();
    assert_eq!(r.status(), 304);
    // A stale If-Range gets the whole entity.
    let r = s.http.get(s.url(&url)).bearer_auth(&tok).header("Range", "bytes=0-9").header("If-Range", "\"other\"").send().unwrap();
    assert_eq!(r.status(), 200);
    let r = s.http.head(s.url(&url)).bearer_auth(&tok).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], src.len().to_string().as_str());
    assert!(r.bytes().unwrap().is_empty());
}

#[test]
fn covers_and_resizing() {
    let (_env, s, tok) = setup_alice();
    let albums = s.json(&tok, "/api/v1/albums");
    let homogenic = albums["items"].as_array().unwrap().iter().find(|a| a["title"] == "Homogenic").unwrap().clone();
    let r = s.get(&tok, &format!("/api/v1/albums/{}/cover", homogenic["id"]));
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    let full = r.bytes().unwrap();
    assert_eq!(full.as_ref(), &std::fs::read(testdata("library/Björk - Homogenic/cover.jpg")).unwrap()[..]);
    for _ in 0..2 {
        // Second round comes from the on-disk cache; same answer.
        let r = s.get(&tok, &format!("/api/v1/albums/{}/cover?size=64", homogenic["id"]));
        assert_eq!(r.status(), 200);
        let img = image_size(&r.bytes().unwrap());
        assert_eq!(img, (64, 64));
    }
    // The MP3's embedded picture.
    let tracks = s.json(&tok, "/api/v1/tracks?limit=100");
    let t = by_title(&tracks["items"]);
    // Sizes snap up to the served edges (64, 128, 256, 512, 800, 1200): 50 is served at 64.
    let r = s.get(&tok, &format!("/api/v1/tracks/{}/cover?size=50", t["Svefn-g-englar"]["id"]));
    assert_eq!(r.status(), 200);
    assert_eq!(image_size(&r.bytes().unwrap()), (64, 64));
    // No cover anywhere: 404 JSON.
    Server::expect_error(s.get(&tok, &format!("/api/v1/tracks/{}/cover", t["Opus Song"]["id"])), 404, "not_found");
    Server::expect_error(s.get(&tok, &format!("/api/v1/albums/{}/cover?size=abc", homogenic["id"])), 400, "bad_query");
}

/// Width and height from a JPEG's SOF marker.
fn image_size(b: &[u8]) -> (u32, u32) {
    let mut i = 2;
    while i + 9 < b.len() {
        let marker = b[i + 1];
        let len = u16::from_be_bytes([b[i + 2], b[i + 3]]) as usize;
        if (0xC0..=0xC3).contains(&marker) {
            let h = u16::from_be_bytes([b[i + 5], b[i + 6]]) as u32;
            let w = u16::from_be_bytes([b[i + 7], b[i + 8]]) as u32;
            return (w, h);
        }
        i += 2 + len;
    }
    panic!("no SOF marker");
}

#[test]
fn reimport_adds_nothing_and_identical_files_are_stored_once() {
    let env = Env::new();
    env.add_user("alice", PW);
    env.add_user("bob", PW);
    let first = env.import("alice", &[testdata("library")]);
    assert_eq!(first.imported, AUDIO_FILES);
    let blobs = env.blobs();
    // 13 audio files, stored as their tag-bearing heads/tails and coded audio, + 1 side-car
    // cover + 1 embedded cover.
    assert!(blobs > AUDIO_FILES + 2, "{blobs}");

    let again = env.import("alice", &[testdata("library")]);
    assert_eq!((again.imported, again.already), (0, AUDIO_FILES), "{}", again.text);
    assert_eq!(env.blobs(), blobs);

    // A copy of the same file under another name is the same blob and already present.
    let copy_dir = env.dir.path().join("copy");
    std::fs::create_dir_all(&copy_dir).unwrap();
    std::fs::copy(testdata("library/Misc/plain.wav"), copy_dir.join("renamed.wav")).unwrap();
    let dup = env.import("alice", std::slice::from_ref(&copy_dir));
    assert_eq!((dup.imported, dup.already), (0, 1), "{}", dup.text);

    // Bob imports the same files: his own library, no new blobs.
    let bob = env.import("bob", &[testdata("library")]);
    assert_eq!(bob.imported, AUDIO_FILES);
    assert_eq!(env.blobs(), blobs);

    let s = env.serve();
    let (a, b) = (s.login("alice", PW), s.login("bob", PW));
    assert_eq!(s.json(&a, "/api/v1/tracks")["total"], AUDIO_FILES);
    assert_eq!(s.json(&b, "/api/v1/tracks")["total"], AUDIO_FILES);

    // Deleting bob keeps alice's files (still referenced).
    drop(s);
    env.ok(&["user", "delete", "bob"], None);
    assert_eq!(env.blobs(), blobs);
    // Alice, the first user, is the only administrator: she cannot be deleted (the CLI
    // keeps the rule the API keeps), and nothing is freed.
    let refused = env.cli(&["user", "delete", "alice"], None);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("the last administrator cannot be deleted"), "{err}");
    assert_eq!(env.blobs(), blobs);
    // With another administrator, deleting alice as well frees everything.
    env.ok(&["user", "add", "root", "--admin", "--password-stdin"], Some("root password\n"));
    let out = env.ok(&["user", "delete", "alice"], None);
    assert!(out.contains(&format!("freed {} blob(s)", blobs)), "{out}");
    assert_eq!(env.blobs(), 0);
}

#[test]
fn bad_files_are_rejected_with_reasons_and_damaged_ones_flagged() {
    let env = Env::new();
    env.add_user("alice", PW);
    let s = env.import("alice", &[testdata("bad"), testdata("damaged")]);
    let reasons: HashMap<String, String> =
        s.rejected.iter().map(|(line, code)| (line.split(':').next().unwrap().rsplit('/').next().unwrap().to_string(), code.clone())).collect();
    assert_eq!(reasons.len(), 5, "{}", s.text);
    assert_eq!(reasons["empty.flac"], "empty");
    assert_eq!(reasons["text.flac"], "not_audio");
    assert_eq!(reasons["random.m4a"], "not_audio");
    assert_eq!(reasons["jpeg.mp3"], "not_audio");
    assert!(["not_audio", "undecodable"].contains(&reasons["truncated-header.flac"].as_str()), "{}", s.text);
    // Half a FLAC plays: imported, flagged, with the duration that really plays.
    assert_eq!(s.imported, 1, "{}", s.text);
    assert_eq!(s.damaged.len(), 1);
    assert!(s.damaged[0].contains("truncated"), "{}", s.text);
    // Nothing from the rejected files is left in the store: only the half FLAC's two parts
    // (metadata blocks, frames).
    assert_eq!(env.blobs(), 2);

    let server = env.serve();
    let tok = server.login("alice", PW);
    let t = &server.json(&tok, "/api/v1/tracks")["items"][0];
    assert!(t["damaged"].as_str().unwrap().contains("truncated"));
    let d = t["duration"].as_f64().unwrap();
    assert!(d > 0.5 && d < 1.5, "half of a 2 s file plays, got {d}");
}

#[test]
fn users_never_see_each_others_objects() {
    let env = Env::new();
    env.add_user("alice", PW);
    env.add_user("bob", PW);
    env.import("alice", &[testdata("library")]);
    let s = env.serve();
    let (a, b) = (s.login("alice", PW), s.login("bob", PW));
    let track = s.json(&a, "/api/v1/tracks?limit=1")["items"][0].clone();
    let album = s.json(&a, "/api/v1/albums?limit=1")["items"][0].clone();
    let artist = s.json(&a, "/api/v1/artists?limit=1")["items"][0].clone();
    for list in ["/api/v1/tracks", "/api/v1/albums", "/api/v1/artists"] {
        let v = s.json(&b, list);
        assert_eq!(v["total"], 0, "{list}");
        assert!(v["items"].as_array().unwrap().is_empty());
    }
    let v = s.json(&b, "/api/v1/search?q=bjork");
    assert!(v["tracks"].as_array().unwrap().is_empty() && v["albums"].as_array().unwrap().is_empty());
    assert!(v["artists"].as_array().unwrap().is_empty());
    let paths = [
        format!("/api/v1/tracks/{}", track["id"]),
        format!("/api/v1/tracks/{}/cover", track["id"]),
        format!("/api/v1/tracks/{}/original", track["id"]),
        format!("/api/v1/albums/{}", album["id"]),
        format!("/api/v1/albums/{}/cover", album["id"]),
        format!("/api/v1/artists/{}", artist["id"]),
    ];
    for p in &paths {
        // Alice sees it (or it has no cover); Bob's answer equals the answer for an id that
        // does not exist.
        let mine = s.get(&a, p).status().as_u16();
        assert!(mine == 200 || (mine == 404 && p.ends_with("/cover")), "{p}: {mine}");
        Server::expect_error(s.get(&b, p), 404, "not_found");
        let missing = p
            .replace(&format!("/{}", track["id"]), "/999999")
            .replace(&format!("/{}", album["id"]), "/999999")
            .replace(&format!("/{}", artist["id"]), "/999999");
        Server::expect_error(s.get(&b, &missing), 404, "not_found");
        // And without a token it is 401, for every route.
        Server::expect_error(s.http.get(s.url(p)).send().unwrap(), 401, "unauthorized");
    }
}

#[test]
fn auth_tokens_login_logout_and_errors() {
    let env = Env::new();
    env.add_user("alice", PW);
    let s = env.serve();
    let r = s.http.post(s.url("/api/v1/auth/login")).body(r#"{"username":"alice","password":"wrong password"}"#).send().unwrap();
    Server::expect_error(r, 401, "bad_credentials");
    let r = s.http.post(s.url("/api/v1/auth/login")).body(r#"{"username":"nobody","password":"wrong password"}"#).send().unwrap();
    Server::expect_error(r, 401, "bad_credentials");
    let r = s.http.post(s.url("/api/v1/auth/login")).body("not json").send().unwrap();
    Server::expect_error(r, 400, "bad_json");
    // Usernames are case-insensitive at login.
    let tok = s.login("ALICE", PW);
    assert_eq!(s.json(&tok, "/api/v1/me")["username"], "alice");
    for list in ["/api/v1/tracks", "/api/v1/albums", "/api/v1/artists", "/api/v1/search?q=x", "/api/v1/me"] {
        Server::expect_error(s.http.get(s.url(list)).send().unwrap(), 401, "unauthorized");
        Server::expect_error(s.get("forged-token", list), 401, "invalid_token");
    }
    let r = s.http.post(s.url("/api/v1/auth/logout")).bearer_auth(&tok).send().unwrap();
    assert_eq!(r.status(), 204);
    Server::expect_error(s.get(&tok, "/api/v1/me"), 401, "invalid_token");
    // Other error shapes.
    let tok = s.login("alice", PW);
    Server::expect_error(s.get(&tok, "/api/v1/tracks/abc"), 404, "not_found");
    Server::expect_error(s.get(&tok, "/api/v1/tracks/-1"), 404, "not_found");
    Server::expect_error(s.get(&tok, "/api/v1/albums?limit=x"), 400, "bad_query");
    Server::expect_error(s.get(&tok, "/api/v1/albums?sort=color"), 400, "bad_sort");
    Server::expect_error(s.get(&tok, "/api/v1/nope"), 404, "not_found");
    Server::expect_error(s.http.delete(s.url("/api/v1/tracks")).bearer_auth(&tok).send().unwrap(), 405, "method_not_allowed");
    assert_eq!(s.http.get(s.url("/healthz")).send().unwrap().status(), 200);
    // A new password ends existing sessions.
    env.ok(&["user", "passwd", "alice", "--password-stdin"], Some("another long password\n"));
    Server::expect_error(s.get(&tok, "/api/v1/me"), 401, "invalid_token");
    s.login("alice", "another long password");
}

#[test]
fn cli_user_management() {
    let env = Env::new();
    let out = env.cli(&["user", "add", "alice", "--password-stdin"], Some("short\n"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 8"));
    let out = env.ok(&["user", "add", "alice", "--password-stdin"], Some(&format!("{PW}\n")));
    assert!(out.contains("(admin)"), "the first user is an admin: {out}");
    env.add_user("bob", PW);
    let out = env.cli(&["user", "add", "Bob", "--password-stdin"], Some(&format!("{PW}\n")));
    assert!(!out.status.success(), "usernames are unique regardless of case");
    let list = env.ok(&["user", "list"], None);
    assert_eq!(list.lines().collect::<Vec<_>>(), ["alice\tadmin", "bob\tuser"]);
    let out = env.cli(&["import", "--user", "carol", testdata("library").to_str().unwrap()], None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no user 'carol'"));
}

#[test]
fn search_sees_an_import_made_while_the_server_runs() {
    let env = Env::new();
    env.add_user("alice", PW);
    let s = env.serve();
    let tok = s.login("alice", PW);
    let count = |q: &str| s.json(&tok, &format!("/api/v1/search?q={q}"))["tracks"].as_array().unwrap().len();
    assert_eq!(count("bjork"), 0);
    // Another process (the CLI) writes the catalog; the server's search index must notice.
    env.import("alice", &[testdata("library/Björk - Homogenic")]);
    assert_eq!(count("bjork"), 2);
    env.import("alice", &[testdata("library/Misc")]);
    assert_eq!(count("royksopp"), 1);
    assert_eq!(count("bjork"), 2);
}

#[test]
fn failed_logins_lock_out_the_user_then_the_address() {
    let env = Env::new();
    env.add_user("alice", "correct horse");
    env.add_user("bob", "battery staple");
    let s = env.serve_with(&[("TONEARM_AUTH__MAX_FAILED_LOGINS_PER_USER", "3"), ("TONEARM_AUTH__MAX_FAILED_LOGINS_PER_ADDRESS", "6")]);
    let login = |u: &str, p: &str| s.http.post(s.url("/api/v1/auth/login")).body(format!(r#"{{"username":"{u}","password":"{p}"}}"#)).send().unwrap();
    for _ in 0..3 {
        Server::expect_error(login("alice", "wrong"), 401, "bad_credentials");
    }
    // Locked: even the right password is refused, with a wait.
    let r = login("alice", "correct horse");
    let wait: u32 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(wait > 0 && wait <= 300);
    Server::expect_error(r, 429, "too_many_attempts");
    // Another user from the same address still signs in, until the address is locked too.
    s.login("bob", "battery staple");
    for name in ["carol", "dave", "erin"] {
        Server::expect_error(login(name, "guess"), 401, "bad_credentials");
    }
    Server::expect_error(login("bob", "battery staple"), 429, "too_many_attempts");
}

#[test]
fn one_request_upload_ingests_or_rejects_precisely() {
    let env = Env::new();
    env.add_user("alice", "correct horse");
    let s = env.serve_with(&[("TONEARM_IMPORT__MAX_FILE_BYTES", "600000")]);
    let tok = s.login("alice", "correct horse");
    let post = |name: &str, bytes: Vec<u8>| s.http.post(s.url(&format!("/api/v1/tracks?filename={name}"))).bearer_auth(&tok).body(bytes).send().unwrap();
    let hunter = std::fs::read(testdata("library/Björk - Homogenic/01 Hunter.flac")).unwrap();
    let r = post("01%20Hunter.flac", hunter.clone());
    assert_eq!(r.status(), 201);
    let t: Value = r.json().unwrap();
    assert_eq!((t["title"].as_str(), t["artist"].as_str(), t["file_name"].as_str()), (Some("Hunter"), Some("Björk"), Some("01 Hunter.flac")));
    // The same bytes again: the existing track, not a second one.
    let r = post("again.flac", hunter.clone());
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().unwrap()["id"], t["id"]);
    // The original comes back byte for byte.
    assert_eq!(s.get(&tok, &format!("/api/v1/tracks/{}/original", t["id"])).bytes().unwrap().to_vec(), hunter);
    // A name is data: a path in it names nothing on disk.
    let r = post("..%2F..%2Fetc%2Fpasswd.mp3", std::fs::read(testdata("library/Misc/id3v1.mp3")).unwrap());
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().unwrap()["file_name"], "passwd.mp3");
    let blobs = env.blobs();
    for (file, code) in [("bad/empty.flac", "empty"), ("bad/text.flac", "not_audio"), ("bad/random.m4a", "not_audio"), ("bad/jpeg.mp3", "not_audio")] {
        let name = file.rsplit('/').next().unwrap();
        Server::expect_error(post(name, std::fs::read(testdata(file)).unwrap()), 422, code);
    }
    Server::expect_error(post("truncated-header.flac", std::fs::read(testdata("bad/truncated-header.flac")).unwrap()), 422, "not_audio");
    Server::expect_error(post("big.wav", vec![0u8; 700_000]), 413, "too_large");
    Server::expect_error(s.http.post(s.url("/api/v1/tracks")).bearer_auth(&tok).body(vec![1u8]).send().unwrap(), 400, "bad_filename");
    Server::expect_error(s.http.post(s.url("/api/v1/tracks?filename=a.flac")).body(hunter).send().unwrap(), 401, "unauthorized");
    // Rejections left nothing behind: no new blob, no upload remains.
    assert_eq!(env.blobs(), blobs);
    assert!(common::walk(&env.data().join("uploads")).is_empty());
    assert_eq!(s.json(&tok, "/api/v1/tracks")["total"], 2);
}

#[test]
fn account_management_over_the_api() {
    let env = Env::new();
    env.add_user("root", "root password");
    env.import("root", &[testdata("library/Björk - Homogenic")]);
    let s = env.serve();
    let root = s.login("root", "root password");
    let post = |tok: &str, path: &str, body: &str| s.http.post(s.url(path)).bearer_auth(tok).body(body.to_string()).send().unwrap();
    // Admins create users; names are unique; weak passwords are refused.
    let r = post(&root, "/api/v1/admin/users", r#"{"username":"alice","password":"correct horse"}"#);
    assert_eq!(r.status(), 201);
    let alice_id = r.json::<Value>().unwrap()["id"].as_i64().unwrap();
    Server::expect_error(post(&root, "/api/v1/admin/users", r#"{"username":"ALICE","password":"correct horse"}"#), 409, "conflict");
    Server::expect_error(post(&root, "/api/v1/admin/users", r#"{"username":"bob","password":"short"}"#), 400, "weak_password");
    Server::expect_error(post(&root, "/api/v1/admin/users", r#"{"user":"bob"}"#), 400, "bad_json");
    let alice = s.login("alice", "correct horse");
    // Non-admins get 403 on every admin route; no token gets 401.
    Server::expect_error(s.get(&alice, "/api/v1/admin/users"), 403, "forbidden");
    Server::expect_error(post(&alice, "/api/v1/admin/users", r#"{"username":"eve","password":"long enough"}"#), 403, "forbidden");
    Server::expect_error(s.http.delete(s.url(&format!("/api/v1/admin/users/{alice_id}"))).bearer_auth(&alice).send().unwrap(), 403, "forbidden");
    Server::expect_error(s.http.get(s.url("/api/v1/admin/users")).send().unwrap(), 401, "unauthorized");
    // Storage figures: Alice imports the files Root has; they are stored once.
    Server::expect_error(s.get(&alice, "/api/v1/admin/storage"), 403, "forbidden");
    env.import("alice", &[testdata("library/Björk - Homogenic")]);
    let st = s.json(&root, "/api/v1/admin/storage");
    let (logical, physical) = (st["logical_bytes"].as_u64().unwrap(), st["physical_bytes"].as_u64().unwrap());
    let users = st["users"].as_array().unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(users[0]["bytes"], users[1]["bytes"]);
    assert_eq!(logical, 2 * users[0]["bytes"].as_u64().unwrap());
    assert!(physical < logical && st["dedup_ratio"].as_f64().unwrap() > 1.5, "{st}");
    match st["store_bytes_on_disk"].as_u64() {
        Some(on_disk) => assert!(on_disk >= physical),
        None => assert!(!env.store.is_empty(), "only an object store cannot tell without listing: {st}"),
    }
    let names: Vec<String> =
        s.json(&root, "/api/v1/admin/users")["items"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, ["alice", "root"]);
    // Own password: the current one is required; all sessions end.
    Server::expect_error(post(&alice, "/api/v1/me/password", r#"{"current_password":"nope","new_password":"a new password"}"#), 401, "bad_credentials");
    assert_eq!(post(&alice, "/api/v1/me/password", r#"{"current_password":"correct horse","new_password":"a new password"}"#).status(), 204);
    Server::expect_error(s.get(&alice, "/api/v1/me"), 401, "invalid_token");
    let alice = s.login("alice", "a new password");
    // An admin resets it.
    let r = s.http.put(s.url(&format!("/api/v1/admin/users/{alice_id}/password"))).bearer_auth(&root).body(r#"{"password":"reset by admin"}"#).send().unwrap();
    assert_eq!(r.status(), 204);
    Server::expect_error(s.get(&alice, "/api/v1/me"), 401, "invalid_token");
    s.login("alice", "reset by admin");
    // Deleting: the last admin stays; deleting a user frees files nobody else owns.
    let root_id = s.json(&root, "/api/v1/me")["id"].as_i64().unwrap();
    Server::expect_error(s.http.delete(s.url(&format!("/api/v1/admin/users/{root_id}"))).bearer_auth(&root).send().unwrap(), 409, "conflict");
    assert_eq!(s.http.delete(s.url(&format!("/api/v1/admin/users/{alice_id}"))).bearer_auth(&root).send().unwrap().status(), 204);
    Server::expect_error(s.http.delete(s.url(&format!("/api/v1/admin/users/{alice_id}"))).bearer_auth(&root).send().unwrap(), 404, "not_found");
    assert_eq!(s.json(&root, "/api/v1/admin/users")["items"].as_array().unwrap().len(), 1);
}

#[test]
fn playlists_favourites_and_history_are_per_user() {
    let env = Env::new();
    env.add_user("alice", "correct horse");
    env.add_user("bob", "battery staple");
    env.import("alice", &[testdata("library/Sigur Rós - Ágætis byrjun")]);
    env.import("bob", &[testdata("library/Misc")]);
    let s = env.serve();
    let (ta, tb) = (s.login("alice", "correct horse"), s.login("bob", "battery staple"));
    let ids = |tok: &str| -> Vec<i64> { s.json(tok, "/api/v1/tracks")["items"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect() };
    let (a, b) = (ids(&ta), ids(&tb));
    let send = |m: reqwest::Method, tok: &str, path: &str, body: String| s.http.request(m, s.url(path)).bearer_auth(tok).body(body).send().unwrap();
    use reqwest::Method as M;
    // Create with two tracks, append one, reorder, rename.
    let r = send(M::POST, &ta, "/api/v1/playlists", format!(r#"{{"name":"Road trip","tracks":[{},{}]}}"#, a[0], a[1]));
    assert_eq!(r.status(), 201);
    let p: Value = r.json().unwrap();
    let pid = p["id"].as_i64().unwrap();
    assert_eq!(p["track_count"], 2);
    assert_eq!(send(M::POST, &ta, &format!("/api/v1/playlists/{pid}/tracks"), format!(r#"{{"tracks":[{}]}}"#, a[2])).status(), 204);
    let order = [a[2], a[0], a[1]];
    assert_eq!(send(M::PATCH, &ta, &format!("/api/v1/playlists/{pid}"), format!(r#"{{"name":"Night drive","tracks":{order:?}}}"#)).status(), 204);
    let p = s.json(&ta, &format!("/api/v1/playlists/{pid}"));
    assert_eq!(p["name"], "Night drive");
    let got: Vec<i64> = p["tracks"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect();
    assert_eq!(got, order);
    assert!(p["duration"].as_f64().unwrap() > 4.0);
    // Someone else's track cannot be added; someone else's playlist does not exist.
    Server::expect_error(send(M::POST, &ta, &format!("/api/v1/playlists/{pid}/tracks"), format!(r#"{{"tracks":[{}]}}"#, b[0])), 404, "not_found");
    Server::expect_error(s.get(&tb, &format!("/api/v1/playlists/{pid}")), 404, "not_found");
    Server::expect_error(send(M::DELETE, &tb, &format!("/api/v1/playlists/{pid}"), String::new()), 404, "not_found");
    Server::expect_error(send(M::POST, &ta, "/api/v1/playlists", r#"{"name":"  "}"#.into()), 400, "bad_name");
    assert_eq!(s.json(&tb, "/api/v1/playlists")["total"], 0);
    // Favourites.
    assert_eq!(send(M::PUT, &ta, &format!("/api/v1/tracks/{}/star", a[1]), String::new()).status(), 204);
    Server::expect_error(send(M::PUT, &ta, &format!("/api/v1/tracks/{}/star", b[0]), String::new()), 404, "not_found");
    assert_eq!(s.json(&ta, "/api/v1/favourites")["items"][0]["id"], a[1]);
    assert_eq!(s.json(&tb, "/api/v1/favourites")["total"], 0);
    assert_eq!(send(M::DELETE, &ta, &format!("/api/v1/tracks/{}/star", a[1]), String::new()).status(), 204);
    assert_eq!(s.json(&ta, "/api/v1/favourites")["total"], 0);
    // Scrobbles and play counts.
    for (t, at) in [(a[0], 1_700_000_000), (a[1], 1_700_000_100), (a[0], 1_700_000_200)] {
        assert_eq!(send(M::POST, &ta, &format!("/api/v1/tracks/{t}/scrobble"), format!(r#"{{"time":{at}}}"#)).status(), 204);
    }
    Server::expect_error(send(M::POST, &tb, &format!("/api/v1/tracks/{}/scrobble", a[0]), String::new()), 404, "not_found");
    let h = s.json(&ta, "/api/v1/history");
    let items = h["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!((items[0]["track"]["id"].as_i64(), items[0]["play_count"].as_u64(), items[0]["played_at"].as_i64()), (Some(a[0]), Some(2), Some(1_700_000_200)));
    assert_eq!(s.json(&tb, "/api/v1/history")["items"].as_array().unwrap().len(), 0);
    // Deleting.
    assert_eq!(send(M::DELETE, &ta, &format!("/api/v1/playlists/{pid}"), String::new()).status(), 204);
    Server::expect_error(s.get(&ta, &format!("/api/v1/playlists/{pid}")), 404, "not_found");
}

#[test]
fn deleting_tracks_frees_unshared_files_and_the_sweep_collects_orphans() {
    let env = Env::new();
    env.add_user("alice", "correct horse");
    env.add_user("bob", "battery staple");
    env.import("alice", &[testdata("library/Björk - Homogenic"), testdata("library/Misc")]);
    env.import("bob", &[testdata("library/Björk - Homogenic")]);
    let blobs = env.blobs();
    {
        let s = env.serve();
        let (ta, tb) = (s.login("alice", "correct horse"), s.login("bob", "battery staple"));
        let find = |tok: &str, title: &str| -> i64 {
            s.json(tok, "/api/v1/tracks")["items"].as_array().unwrap().iter().find(|t| t["title"] == title).unwrap()["id"].as_i64().unwrap()
        };
        let del = |tok: &str, id: i64| s.http.delete(s.url(&format!("/api/v1/tracks/{id}"))).bearer_auth(tok).send().unwrap();
        let (hunter_a, hunter_b, wav) = (find(&ta, "Hunter"), find(&tb, "Hunter"), find(&ta, "plain"));
        Server::expect_error(del(&tb, hunter_a), 404, "not_found");
        // Shared bytes: Alice's copy goes, the file stays for Bob.
        assert_eq!(del(&ta, hunter_a).status(), 204);
        Server::expect_error(del(&ta, hunter_a), 404, "not_found");
        Server::expect_error(s.get(&ta, &format!("/hls/{hunter_a}/master.m3u8")), 404, "not_found");
        assert_eq!(env.blobs(), blobs);
        assert_eq!(s.get(&tb, &format!("/api/v1/tracks/{hunter_b}/original")).status(), 200);
        let homogenic = s.json(&ta, "/api/v1/albums")["items"].as_array().unwrap().iter().find(|a| a["title"] == "Homogenic").unwrap().clone();
        assert_eq!(homogenic["track_count"], 1);
        // Only Alice's: the file goes with it (its two parts: RIFF header, samples).
        assert_eq!(del(&ta, wav).status(), 204);
        assert_eq!(env.blobs(), blobs - 2);
    }
    // Orphans: an old unreferenced blob is swept at start-up; a fresh one (an import may be
    // between its two commits) is left alone. (Planted as files: the local store's case.)
    if !env.store.is_empty() {
        return;
    }
    let old = env.data().join("blobs/00").join("0".repeat(64));
    let fresh = env.data().join("blobs/11").join("1".repeat(64));
    for p in [&old, &fresh] {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"orphan").unwrap();
    }
    assert!(std::process::Command::new("touch").args(["-d", "2 hours ago"]).arg(&old).status().unwrap().success());
    let s = env.serve();
    s.login("alice", "correct horse");
    assert!(!old.exists(), "the old orphan is swept");
    assert!(fresh.exists(), "a fresh unreferenced blob is kept");
}

/// Every endpoint that names a user's resource × every kind of caller: the owner gets it,
/// another user and an administrator get 404 (as if it did not exist), no token and an
/// expired token get 401. Ownership is checked in one place: the catalog lookup by user.
#[test]
fn ownership_matrix() {
    let env = Env::new();
    env.add_user("root", "root password"); // the first user is the admin
    env.add_user("owner", "owner password");
    env.add_user("other", "other password");
    env.import("owner", &[testdata("library/Björk - Homogenic")]);
    env.import("other", &[testdata("library/Misc")]);
    let s = env.serve();
    let (admin, owner, other) = (s.login("root", "root password"), s.login("owner", "owner password"), s.login("other", "other password"));
    // An expired token: signed in through a second server whose tokens live 0 hours.
    let expired = {
        let short = env.serve_with(&[("TONEARM_AUTH__TOKEN_TTL_HOURS", "0")]);
        short.login("owner", "owner password")
    };
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let track = s.json(&owner, "/api/v1/tracks")["items"][0].clone();
    let (t, a, ar) = (track["id"].as_i64().unwrap(), track["album_id"].as_i64().unwrap(), track["artist_id"].as_i64().unwrap());
    let r = s.http.post(s.url("/api/v1/playlists")).bearer_auth(&owner).body(format!(r#"{{"name":"mine","tracks":[{t}]}}"#)).send().unwrap();
    let p = r.json::<Value>().unwrap()["id"].as_i64().unwrap();
    // An unfinished resumable upload and an instant-upload challenge of the owner's.
    let r = s
        .http
        .post(s.url("/api/v1/uploads"))
        .bearer_auth(&owner)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", "10")
        .header("Upload-Metadata", "filename YS53YXY=")
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let up = r.headers()["location"].to_str().unwrap().to_string();
    let r = s
        .http
        .post(s.url("/api/v1/uploads/instant"))
        .bearer_auth(&owner)
        .body(format!(r#"{{"sha256":"{}","size":10,"filename":"a.wav"}}"#, "ab".repeat(32)))
        .send()
        .unwrap();
    let challenge = r.json::<Value>().unwrap()["challenge"].as_str().unwrap().to_string();
    use reqwest::Method as M;
    let cases: Vec<(M, String, String, u16)> = vec![
        (M::PATCH, format!("/api/v1/tracks/{t}"), r#"{"genre":"Trip-hop"}"#.into(), 200),
        (M::GET, up.clone(), String::new(), 200),
        (M::PATCH, up.clone(), "abc".into(), 204),
        (M::DELETE, up.clone(), String::new(), 204),
        (M::POST, format!("/api/v1/uploads/instant/{challenge}"), r#"{"proofs":[]}"#.into(), 422),
        (M::GET, format!("/api/v1/tracks/{t}"), String::new(), 200),
        (M::GET, format!("/api/v1/tracks/{t}/cover?size=64"), String::new(), 200),
        (M::GET, format!("/api/v1/tracks/{t}/original"), String::new(), 200),
        (M::GET, format!("/api/v1/tracks/{t}/playback"), String::new(), 200),
        (M::GET, format!("/api/v1/tracks/{t}/stream?format=opus"), String::new(), 200),
        (M::GET, format!("/hls/{t}/master.m3u8"), String::new(), 200),
        (M::GET, format!("/hls/{t}/aac-96/index.m3u8"), String::new(), 200),
        (M::GET, format!("/hls/{t}/aac-96/init.mp4"), String::new(), 200),
        (M::GET, format!("/hls/{t}/aac-96/0.m4s"), String::new(), 200),
        (M::GET, format!("/api/v1/albums/{a}"), String::new(), 200),
        (M::GET, format!("/api/v1/albums/{a}/cover"), String::new(), 200),
        (M::GET, format!("/api/v1/artists/{ar}"), String::new(), 200),
        (M::PUT, format!("/api/v1/tracks/{t}/star"), String::new(), 204),
        (M::DELETE, format!("/api/v1/tracks/{t}/star"), String::new(), 204),
        (M::POST, format!("/api/v1/tracks/{t}/scrobble"), String::new(), 204),
        (M::GET, format!("/api/v1/playlists/{p}"), String::new(), 200),
        (M::PATCH, format!("/api/v1/playlists/{p}"), r#"{"name":"renamed"}"#.into(), 204),
        (M::POST, format!("/api/v1/playlists/{p}/tracks"), format!(r#"{{"tracks":[{t}]}}"#), 204),
        (M::DELETE, format!("/api/v1/playlists/{p}"), String::new(), 204),
        (M::DELETE, format!("/api/v1/tracks/{t}"), String::new(), 204),
    ];
    let call = |m: &M, path: &str, body: &str, tok: Option<&str>| {
        let mut rq = s.http.request(m.clone(), s.url(path)).body(body.to_string());
        if path.starts_with("/api/v1/uploads/") {
            rq = rq.header("Tus-Resumable", "1.0.0").header("Content-Type", "application/offset+octet-stream").header("Upload-Offset", "0");
        }
        if let Some(tok) = tok {
            rq = rq.bearer_auth(tok);
        }
        rq.send().unwrap()
    };
    for (m, path, body, owner_status) in &cases {
        let what = format!("{m} {path}");
        for (who, tok) in [("other user", &other), ("admin", &admin)] {
            let r = call(m, path, body, Some(tok));
            assert_eq!(r.status().as_u16(), 404, "{what} as {who}");
            Server::expect_error(r, 404, "not_found");
        }
        Server::expect_error(call(m, path, body, None), 401, "unauthorized");
        Server::expect_error(call(m, path, body, Some(&expired)), 401, "invalid_token");
        assert_eq!(call(m, path, body, Some(&owner)).status().as_u16(), *owner_status, "{what} as owner");
    }
}

#[test]
fn admins_set_quotas_and_disable_accounts() {
    let env = Env::new();
    env.add_user("root", "root password");
    env.add_user("alice", "correct horse");
    let s = env.serve();
    let (root, alice) = (s.login("root", "root password"), s.login("alice", "correct horse"));
    let alice_id = s.json(&alice, "/api/v1/me")["id"].as_i64().unwrap();
    let patch =
        |tok: &str, id: i64, body: &str| s.http.patch(s.url(&format!("/api/v1/admin/users/{id}"))).bearer_auth(tok).body(body.to_string()).send().unwrap();
    let upload = |tok: &str, rel: &str| {
        let name = rel.rsplit('/').next().unwrap();
        s.http.post(s.url(&format!("/api/v1/tracks?filename={name}"))).bearer_auth(tok).body(std::fs::read(testdata(rel)).unwrap()).send().unwrap()
    };
    let hunter = std::fs::metadata(testdata("library/Björk - Homogenic/01 Hunter.flac")).unwrap().len();
    Server::expect_error(patch(&alice, alice_id, r#"{"quota_bytes":1}"#), 403, "forbidden");
    Server::expect_error(patch(&root, alice_id, r#"{"quota_bytes":"lots"}"#), 400, "bad_json");
    // Room for Hunter, not for Hunter and Jóga.
    assert_eq!(patch(&root, alice_id, &format!(r#"{{"quota_bytes":{}}}"#, hunter + 1000)).status(), 204);
    assert_eq!(s.json(&root, "/api/v1/admin/users")["items"].as_array().unwrap().iter().find(|u| u["id"] == alice_id).unwrap()["quota_bytes"], hunter + 1000);
    assert_eq!(upload(&alice, "library/Björk - Homogenic/01 Hunter.flac").status(), 201);
    Server::expect_error(upload(&alice, "library/Björk - Homogenic/02 Jóga.flac"), 413, "quota_exceeded");
    assert_eq!(patch(&root, alice_id, r#"{"quota_bytes":null}"#).status(), 204);
    assert_eq!(upload(&alice, "library/Björk - Homogenic/02 Jóga.flac").status(), 201);
    // Disabled: sessions end, signing in says so (to someone with the password only).
    assert_eq!(patch(&root, alice_id, r#"{"disabled":true}"#).status(), 204);
    Server::expect_error(s.get(&alice, "/api/v1/me"), 401, "invalid_token");
    let login = |p: &str| s.http.post(s.url("/api/v1/auth/login")).body(format!(r#"{{"username":"alice","password":"{p}"}}"#)).send().unwrap();
    Server::expect_error(login("correct horse"), 403, "account_disabled");
    Server::expect_error(login("wrong"), 401, "bad_credentials");
    assert_eq!(patch(&root, alice_id, r#"{"disabled":false}"#).status(), 204);
    s.login("alice", "correct horse");
    // The last enabled admin cannot be disabled.
    let root_id = s.json(&root, "/api/v1/me")["id"].as_i64().unwrap();
    Server::expect_error(patch(&root, root_id, r#"{"disabled":true}"#), 409, "conflict");
    // Nor made a regular user; another can be made an administrator, and then can.
    Server::expect_error(patch(&root, root_id, r#"{"is_admin":false}"#), 409, "conflict");
    Server::expect_error(patch(&root, alice_id, r#"{"is_admin":"yes"}"#), 400, "bad_json");
    assert_eq!(patch(&root, alice_id, r#"{"is_admin":true}"#).status(), 204);
    let alice = s.login("alice", "correct horse");
    assert_eq!(s.get(&alice, "/api/v1/admin/users").status(), 200);
    assert_eq!(patch(&alice, root_id, r#"{"is_admin":false}"#).status(), 204);
    assert_eq!(s.get(&root, "/api/v1/admin/users").status(), 403);
}

/// The entries of an extended M3U: (seconds, name, URL).
fn m3u_entries(text: &str) -> Vec<(i64, String, String)> {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.first(), Some(&"#EXTM3U"), "{text}");
    lines
        .windows(2)
        .filter_map(|w| {
            let (secs, name) = w[0].strip_prefix("#EXTINF:")?.split_once(',')?;
            Some((secs.parse().unwrap(), name.to_string(), w[1].to_string()))
        })
        .collect()
}

#[test]
fn albums_and_playlists_as_m3u_and_pls_files_play_without_headers() {
    let (env, s, t) = setup_alice();
    env.add_user("bob", PW);
    let bob = s.login("bob", PW);
    let albums = s.json(&t, "/api/v1/albums?limit=100");
    let album = albums["items"].as_array().unwrap().iter().find(|a| a["title"] == "Homogenic").unwrap()["id"].as_i64().unwrap();
    let detail = s.json(&t, &format!("/api/v1/albums/{album}"));
    let titles: Vec<String> = detail["tracks"].as_array().unwrap().iter().map(|t| t["title"].as_str().unwrap().to_string()).collect();

    // With the bearer header: the album's tracks in order, absolute URLs on the host asked.
    let r = s.get(&t, &format!("/api/v1/albums/{album}/playlist.m3u8"));
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "audio/x-mpegurl; charset=utf-8");
    assert_eq!(r.headers()["cache-control"], "private, no-store");
    let text = r.text().unwrap();
    assert!(text.contains("#PLAYLIST:Björk - Homogenic"), "{text}");
    let entries = m3u_entries(&text);
    assert_eq!(entries.iter().map(|e| e.1.clone()).collect::<Vec<_>>(), titles.iter().map(|t| format!("Björk - {t}")).collect::<Vec<_>>());
    let anon = reqwest::blocking::Client::new();
    for (secs, _, url) in &entries {
        assert!(url.starts_with(&format!("{}/api/v1/tracks/", s.base)) && url.contains("format=mp3"), "{url}");
        // A device with no header at all plays each entry: an MP3 of the track's length.
        let r = anon.get(url).send().unwrap();
        assert_eq!(r.status(), 200, "{url}");
        let path = env.dir.path().join("entry.mp3");
        std::fs::write(&path, r.bytes().unwrap()).unwrap();
        if let Some((played, _)) = common::ffmpeg_seconds(&path) {
            assert!((played - *secs as f64).abs() <= 1.0, "{played} s against #EXTINF {secs}");
        }
    }

    // The signed file URLs open with no header; the signature opens this list only.
    let signed = s.json(&t, &format!("/api/v1/albums/{album}/playback"));
    let m3u8 = signed["m3u8"].as_str().unwrap();
    let r = anon.get(s.url(m3u8)).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(m3u_entries(&r.text().unwrap()).len(), titles.len());
    let pls = anon.get(s.url(signed["pls"].as_str().unwrap())).send().unwrap().text().unwrap();
    assert!(pls.starts_with("[playlist]\n") && pls.contains(&format!("NumberOfEntries={}\n", titles.len())) && pls.ends_with("Version=2\n"), "{pls}");
    let first = pls.lines().find_map(|l| l.strip_prefix("File1=")).unwrap();
    assert_eq!(anon.get(first).send().unwrap().status(), 200);
    assert!(pls.contains(&format!("Title1=Björk - {}", titles[0])));
    let query = m3u8.split_once('?').unwrap().1;
    Server::expect_error(anon.get(s.url(&format!("/api/v1/albums/{}/playlist.m3u8?{query}", album + 1))).send().unwrap(), 403, "bad_signature");
    Server::expect_error(anon.get(s.url(&format!("/api/v1/playlists/{album}/playlist.m3u8?{query}"))).send().unwrap(), 403, "bad_signature");
    Server::expect_error(anon.get(s.url(&format!("/api/v1/albums/{album}/playlist.m3u8?{}0", query))).send().unwrap(), 403, "bad_signature");
    Server::expect_error(anon.get(s.url(&format!("/api/v1/albums/{album}/playlist.m3u8"))).send().unwrap(), 401, "unauthorized");
    Server::expect_error(s.get(&t, &format!("/api/v1/albums/{album}/playlist.m3u8?format=wma")), 400, "bad_format");
    // Someone else's album does not exist for them, with or without a file to sign.
    Server::expect_error(s.get(&bob, &format!("/api/v1/albums/{album}/playlist.pls")), 404, "not_found");
    Server::expect_error(s.get(&bob, &format!("/api/v1/albums/{album}/playback")), 404, "not_found");

    // A playlist, in its own order, in another format.
    let ids: Vec<i64> = detail["tracks"].as_array().unwrap().iter().rev().map(|t| t["id"].as_i64().unwrap()).collect();
    let r = s.http.post(s.url("/api/v1/playlists")).bearer_auth(&t).body(format!(r#"{{"name":"Car mix","tracks":{ids:?}}}"#)).send().unwrap();
    let pl = r.json::<Value>().unwrap()["id"].as_i64().unwrap();
    let signed = s.json(&t, &format!("/api/v1/playlists/{pl}/playback"));
    let text = anon.get(s.url(&format!("{}&format=aac", signed["m3u8"].as_str().unwrap()))).send().unwrap().text().unwrap();
    let entries = m3u_entries(&text);
    assert_eq!(entries.last().unwrap().1, format!("Björk - {}", titles[0]), "the playlist's order");
    assert!(entries.iter().all(|e| e.2.contains("format=aac")));
    let r = anon.get(&entries[0].2).send().unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["content-type"].to_str().unwrap()), (200, "audio/aac"));
}
