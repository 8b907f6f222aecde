//! The Subsonic API's envelope and sign-in through the real server: every scheme real apps
//! use (`p=` plain and `enc:`, token auth with the salt lengths apps send, `apiKey`), GET
//! and form POST, with and without `.view`, XML / JSON / JSONP, and the protocol's error
//! codes inside HTTP-200 envelopes.

use md5::Digest;
use serde_json::Value;

use crate::common::{Env, Server};

const ALICE_PW: &str = "alice password";

fn token(password: &str, salt: &str) -> String {
    md5::Md5::new().chain_update(password).chain_update(salt).finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// `GET /rest/{method}?{query}&f=json`: the envelope, after checking what every answer
/// carries.
fn get(s: &Server, method: &str, query: &str) -> Value {
    let r = s.http.get(s.url(&format!("/rest/{method}?{query}&f=json&v=1.16.1&c=test"))).send().unwrap();
    assert_eq!(r.status(), 200, "{method}?{query}");
    envelope(r.json().unwrap())
}

fn envelope(v: Value) -> Value {
    let e = v["subsonic-response"].clone();
    assert_eq!(e["version"], "1.16.1", "{v}");
    assert_eq!(e["type"], "tonearm", "{v}");
    assert_eq!(e["openSubsonic"], true, "{v}");
    assert!(e["serverVersion"].is_string(), "{v}");
    assert!(e["status"] == "ok" || e["status"] == "failed", "{v}");
    e
}

/// Alice (`ALICE_PW`) with `alice_lib` from testdata, and Bob ("bob password") with
/// `library/Misc`: two libraries to keep apart.
fn alice_and_bob(alice_lib: &str) -> Env {
    let env = Env::new();
    env.add_user("alice", ALICE_PW);
    env.add_user("bob", "bob password");
    env.import("alice", &[crate::common::testdata(alice_lib)]);
    env.import("bob", &[crate::common::testdata("library/Misc")]);
    env
}

fn error_code(e: &Value) -> u64 {
    assert_eq!(e["status"], "failed", "{e}");
    e["error"]["code"].as_u64().unwrap()
}

#[test]
fn every_sign_in_scheme_and_every_envelope() {
    let env = Env::new();
    env.add_user("alice", ALICE_PW);
    env.add_user("bob", "bob password");
    let key = env.ok(&["user", "api-key", "add", "alice", "--label", "phone"], None).trim().to_string();
    assert!(key.starts_with("ta_") && !key.contains(char::is_whitespace), "the key alone on stdout: {key:?}");
    let listed = env.ok(&["user", "api-key", "list", "alice"], None);
    assert!(listed.contains("phone") && listed.contains("never"), "{listed}");
    let s = env.serve();

    // The extensions answer without signing in, and name only what is implemented.
    let e = get(&s, "getOpenSubsonicExtensions", "");
    assert_eq!(e["status"], "ok");
    let names: Vec<&str> = e["openSubsonicExtensions"].as_array().unwrap().iter().map(|x| x["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["formPost", "apiKeyAuthentication", "transcodeOffset", "songLyrics", "transcoding"], "only what is implemented");

    // Password in clear and as enc: hex.
    assert_eq!(get(&s, "ping", &format!("u=alice&p={}", urlencoding(ALICE_PW)))["status"], "ok");
    let hex: String = ALICE_PW.bytes().map(|b| format!("{b:02x}")).collect();
    assert_eq!(get(&s, "ping.view", &format!("u=alice&p=enc:{hex}"))["status"], "ok");
    // Token auth with the salt lengths real apps send.
    for salt in ["abcdef012345", "0123456789abcdef", "0123456789abcdef0123456789abcdef"] {
        assert_eq!(get(&s, "ping", &format!("u=alice&t={}&s={salt}", token(ALICE_PW, salt)))["status"], "ok", "salt of {}", salt.len());
    }
    // API key.
    assert_eq!(get(&s, "ping", &format!("apiKey={key}"))["status"], "ok");

    // Form POST, credentials in the body, as py-opensonic and py-sonic send every call.
    let body = format!("u=alice&t={}&s=saltsalt&f=json&v=1.16.1&c=test", token(ALICE_PW, "saltsalt"));
    let r = s.http.post(s.url("/rest/getUser.view?username=alice")).header("content-type", "application/x-www-form-urlencoded").body(body).send().unwrap();
    let u = envelope(r.json().unwrap());
    assert_eq!(u["user"]["username"], "alice");
    assert_eq!(u["user"]["adminRole"], true);
    assert_eq!(u["user"]["videoConversionRole"], false, "required by the schema");

    // Errors are codes in HTTP-200 envelopes.
    assert_eq!(error_code(&get(&s, "ping", "u=alice&p=wrong")), 40);
    assert_eq!(error_code(&get(&s, "ping", &format!("u=alice&t={}&s=abc", token("wrong", "abc")))), 40);
    assert_eq!(error_code(&get(&s, "ping", "")), 10);
    assert_eq!(error_code(&get(&s, "ping", "u=alice")), 10);
    assert_eq!(error_code(&get(&s, "ping", "u=alice&t=abc")), 10);
    assert_eq!(error_code(&get(&s, "ping", &format!("u=alice&apiKey={key}"))), 43);
    assert_eq!(error_code(&get(&s, "ping", "apiKey=ta_not_a_key")), 44);
    assert_eq!(error_code(&get(&s, "getUser", &format!("apiKey={key}"))), 10, "username is required");
    let bob = "u=bob&p=bob%20password";
    assert_eq!(error_code(&get(&s, "getUser", &format!("{bob}&username=alice"))), 50, "only an admin sees others");
    assert_eq!(get(&s, "getUser", &format!("apiKey={key}&username=bob"))["user"]["adminRole"], false);
    assert_eq!(error_code(&get(&s, "getUser", &format!("apiKey={key}&username=nobody"))), 70);
    assert_eq!(error_code(&get(&s, "noSuchMethod", &format!("apiKey={key}"))), 0);

    // XML (the default) and JSONP carry the same envelope.
    let xml = s.http.get(s.url("/rest/getOpenSubsonicExtensions")).send().unwrap();
    assert_eq!(xml.headers()["content-type"], "text/xml; charset=utf-8");
    let xml = xml.text().unwrap();
    for attr in
        [r#"status="ok""#, r#"version="1.16.1""#, r#"type="tonearm""#, r#"openSubsonic="true""#, r#"xmlns="http://subsonic.org/restapi""#, r#"name="formPost""#]
    {
        assert!(xml.contains(attr), "{attr} in {xml}");
    }
    let failed = s.http.get(s.url("/rest/ping?u=alice&p=wrong")).send().unwrap().text().unwrap();
    assert!(failed.contains(r#"status="failed""#) && failed.contains(r#"code="40""#) && failed.contains(r#"type="tonearm""#), "{failed}");
    let p = s.http.get(s.url("/rest/ping?f=jsonp&callback=cb&apiKey=x")).send().unwrap();
    assert_eq!(p.headers()["content-type"], "application/javascript");
    let text = p.text().unwrap();
    let inner = text.strip_prefix("cb(").and_then(|t| t.strip_suffix(");")).unwrap_or_else(|| panic!("{text}"));
    assert_eq!(error_code(&envelope(serde_json::from_str(inner).unwrap())), 44);

    // A password change: the old token stops working at once, the new one works.
    let tok = s.login("alice", ALICE_PW);
    let r = s
        .http
        .post(s.url("/api/v1/me/password"))
        .bearer_auth(&tok)
        .body(r#"{"current_password":"alice password","new_password":"a new password"}"#)
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(error_code(&get(&s, "ping", &format!("u=alice&t={}&s=abc", token(ALICE_PW, "abc")))), 40);
    assert_eq!(get(&s, "ping", &format!("u=alice&t={}&s=abc", token("a new password", "abc")))["status"], "ok");

    // Revoked keys stop at once.
    let id = env.ok(&["user", "api-key", "list", "alice"], None).split('\t').next().unwrap().to_string();
    env.ok(&["user", "api-key", "revoke", "alice", &id], None);
    assert_eq!(error_code(&get(&s, "ping", &format!("apiKey={key}"))), 44);

    // The same keys over the JSON API (what the web player offers): made, listed, revoked,
    // and only ever the owner's.
    let tok = s.login("alice", "a new password");
    let made: Value = s.http.post(s.url("/api/v1/me/api-keys")).bearer_auth(&tok).body(r#"{"label":"car"}"#).send().unwrap().json().unwrap();
    let new_key = made["key"].as_str().unwrap().to_string();
    assert_eq!(get(&s, "ping", &format!("apiKey={new_key}"))["status"], "ok");
    let listed = s.json(&tok, "/api/v1/me/api-keys");
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["items"][0]["label"], "car");
    assert!(listed["items"][0].get("key").is_none(), "a key is shown once, when made");
    let bob_tok = s.login("bob", "bob password");
    let kid = made["id"].as_i64().unwrap();
    Server::expect_error(s.http.delete(s.url(&format!("/api/v1/me/api-keys/{kid}"))).bearer_auth(&bob_tok).send().unwrap(), 404, "not_found");
    Server::expect_error(s.http.post(s.url("/api/v1/me/api-keys")).bearer_auth(&tok).body(r#"{"label":" "}"#).send().unwrap(), 400, "bad_label");
    assert_eq!(s.http.delete(s.url(&format!("/api/v1/me/api-keys/{kid}"))).bearer_auth(&tok).send().unwrap().status(), 204);
    assert_eq!(error_code(&get(&s, "ping", &format!("apiKey={new_key}"))), 44);
}

#[test]
fn token_auth_can_be_turned_off_and_sign_in_is_throttled() {
    let env = Env::new();
    env.add_user("alice", ALICE_PW);
    let s = env.serve_with(&[("TONEARM_SUBSONIC__TOKEN_AUTH", "false"), ("TONEARM_AUTH__MAX_FAILED_LOGINS_PER_USER", "3")]);
    assert_eq!(error_code(&get(&s, "ping", &format!("u=alice&t={}&s=abc", token(ALICE_PW, "abc")))), 41);
    assert_eq!(get(&s, "ping", &format!("u=alice&p={}", urlencoding(ALICE_PW)))["status"], "ok", "p= still signs in");
    for _ in 0..3 {
        assert_eq!(error_code(&get(&s, "ping", "u=alice&p=wrong")), 40);
    }
    let r = s.http.get(s.url(&format!("/rest/ping?u=alice&p={}&f=json", urlencoding(ALICE_PW)))).send().unwrap();
    assert_eq!(r.status(), 429, "locked out, as on the JSON API");
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(envelope(r.json().unwrap())["status"], "failed");
    Server::expect_error(
        s.http.post(s.url("/api/v1/auth/login")).body(r#"{"username":"alice","password":"alice password"}"#).send().unwrap(),
        429,
        "too_many_attempts",
    );
}

fn urlencoding(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[test]
fn py_opensonic_signs_in_every_way_against_the_live_server() {
    let python = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py/.venv/bin/python");
    assert!(python.exists(), "run scripts/bootstrap.sh --test (it installs tests/py/requirements.txt)");
    let env = Env::new();
    env.add_user("alice", ALICE_PW);
    env.import("alice", &[crate::common::testdata("library")]);
    let key = env.ok(&["user", "api-key", "add", "alice"], None).trim().to_string();
    let s = env.serve();
    let (host, port) = s.base.rsplit_once(':').unwrap();
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py/opensonic_client.py");
    let out = std::process::Command::new(python).arg(script).args([host, port, "alice", ALICE_PW, &key]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "py-opensonic: {text}\n{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(v["user"], "alice");
    assert_eq!(v["songs_synced"], 12);
    eprintln!("py-opensonic: {v}");
}

/// The npm `subsonic-api` package (token auth with a fresh salt per call, GET and form
/// POST) against the live server: browse, search, sync, stream raw and transcoded (judged
/// by ffprobe), cover, playlists, stars, ratings, scrobbles, lyrics, errors, isolation.
#[test]
fn npm_subsonic_api_client_against_the_live_server() {
    let js = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    assert!(js.join("node_modules/subsonic-api").exists(), "run scripts/bootstrap.sh --test (npm ci in tests/js)");
    let env = alice_and_bob("library");
    let s = env.serve();
    let original = crate::common::testdata("library/Björk - Homogenic/02 Jóga.flac");
    let out = std::process::Command::new("node")
        .arg(js.join("subsonic-api.mjs"))
        .args([s.base.as_str(), "alice", ALICE_PW, "bob", "bob password"])
        .arg(&original)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "subsonic-api: {text}\n{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(v["ping_post"], "POST");
    assert_eq!(v["songs_synced_empty"], 12);
    assert_eq!(v["lyrics"]["getLyricsBySongId"]["structuredLyrics"][0]["synced"], true, "{v}");
    assert_eq!(v["errors"], serde_json::json!({ "wrong_password": 40, "missing_id": 10, "unknown_id": 70, "other_users_album": 70 }));
    eprintln!("subsonic-api: {v}");
}

/// A codec name and the decoded seconds of `bytes`, by ffprobe and ffmpeg.
fn judge(dir: &std::path::Path, name: &str, bytes: &[u8]) -> (String, f64) {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let probe = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "a:0", "-show_entries", "stream=codec_name", "-of", "csv=p=0"])
        .arg(&path)
        .output()
        .unwrap();
    let codec = String::from_utf8_lossy(&probe.stdout).trim().to_string();
    let (secs, _) = crate::common::ffmpeg_seconds(&path).unwrap_or((0.0, 0));
    (codec, secs)
}

#[test]
fn browse_search_and_stream_per_user() {
    let env = alice_and_bob("library");
    let s = env.serve();
    s.wait_measured("alice", ALICE_PW);
    let a = format!("u=alice&t={}&s=salty1234567", token(ALICE_PW, "salty1234567"));
    let b = "u=bob&p=bob%20password";

    // Artists by letter, diacritics folded for the index; then artist → album → song.
    let e = get(&s, "getArtists", &a);
    let index = e["artists"]["index"].as_array().unwrap();
    let bjork = index.iter().flat_map(|i| i["artist"].as_array().unwrap()).find(|x| x["name"] == "Björk").unwrap_or_else(|| panic!("{e}"));
    assert!(index.iter().any(|i| i["name"] == "B" && i["artist"].as_array().unwrap().iter().any(|x| x["name"] == "Björk")));
    let ar = bjork["id"].as_str().unwrap();
    assert!(ar.starts_with("ar-"));
    let artist = get(&s, "getArtist", &format!("{a}&id={ar}"));
    let album = &artist["artist"]["album"][0];
    assert_eq!(album["name"], "Homogenic");
    let al = album["id"].as_str().unwrap().to_string();
    let songs = get(&s, "getAlbum", &format!("{a}&id={al}"))["album"]["song"].as_array().unwrap().clone();
    assert_eq!(songs.len(), 2);
    let song = &songs[0];
    // Hunter is tagged with ReplayGain (-6.54 dB, peak 0.988).
    assert_eq!((song["replayGain"]["trackGain"].as_f64(), song["replayGain"]["trackPeak"].as_f64()), (Some(-6.54), Some(0.988)), "{song}");
    // Jóga has no tags: its gain comes from the EBU R128 measurement (a gain to −18 LUFS).
    let joga = &songs[1]["replayGain"];
    assert!(joga["trackGain"].as_f64().is_some_and(|g| g.abs() < 40.0) && joga["trackPeak"].as_f64().is_some_and(|p| p > 0.0), "{joga}");
    assert_eq!(songs[1]["isrc"], serde_json::json!(["GBAAA9700002"]), "the ISRC, normalised");
    assert!(song.get("isrc").is_none());
    for field in [
        "id",
        "title",
        "album",
        "artist",
        "duration",
        "bitRate",
        "samplingRate",
        "channelCount",
        "suffix",
        "contentType",
        "size",
        "track",
        "coverArt",
        "albumId",
        "artistId",
    ] {
        assert!(!song[field].is_null(), "song has {field}: {song}");
    }
    assert_eq!(song["suffix"], "flac");
    assert_eq!(song["contentType"], "audio/flac");
    let tr = song["id"].as_str().unwrap().to_string();
    assert_eq!(get(&s, "getSong", &format!("{a}&id={tr}"))["song"]["title"], song["title"]);

    // Kinds never mix; malformed and foreign ids are 70 like missing ones.
    for (method, id) in [("getSong", al.as_str()), ("getAlbum", tr.as_str()), ("getArtist", "ar-999999"), ("getSong", "tr-x"), ("getSong", "12")] {
        assert_eq!(error_code(&get(&s, method, &format!("{a}&id={id}"))), 70, "{method} {id}");
    }
    assert_eq!(error_code(&get(&s, "getSong", &format!("{b}&id={tr}"))), 70, "bob cannot see alice's song");
    assert_eq!(error_code(&get(&s, "getAlbum", &format!("{b}&id={al}"))), 70);
    assert_eq!(error_code(&get(&s, "getSong", &a)), 10);

    // Search, accents folded; the empty query (also as "") pages through everything.
    let r = get(&s, "search3", &format!("{a}&query=joga"));
    assert_eq!(r["searchResult3"]["song"][0]["title"], "Jóga", "{r}");
    let all: Vec<String> = (0..)
        .map(|page| get(&s, "search3", &format!("{a}&query=%22%22&songCount=5&songOffset={}&artistCount=0&albumCount=0", page * 5)))
        .map(|r| r["searchResult3"]["song"].as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap().to_string()).collect::<Vec<_>>())
        .take_while(|page| !page.is_empty())
        .flatten()
        .collect();
    assert_eq!(all.len(), 12, "every song of testdata/library once, by pages of 5");
    assert_eq!(all.iter().collect::<std::collections::HashSet<_>>().len(), 12);
    assert!(get(&s, "search3", &format!("{b}&query=bjork"))["searchResult3"]["song"].as_array().unwrap().is_empty(), "bob searches only his own");
    let newest = get(&s, "getAlbumList2", &format!("{a}&type=alphabeticalByName&size=50"));
    assert!(newest["albumList2"]["album"].as_array().unwrap().iter().any(|x| x["id"] == al.as_str()));

    // Streams: the original's exact bytes (with Range); transcodes judged by ffmpeg.
    let tok = s.login("alice", ALICE_PW);
    let id: i64 = tr.strip_prefix("tr-").unwrap().parse().unwrap();
    let original = s.get(&tok, &format!("/api/v1/tracks/{id}/original")).bytes().unwrap();
    let raw = s.http.get(s.url(&format!("/rest/stream?{a}&id={tr}&maxBitRate=0&estimateContentLength=false&converted=false"))).send().unwrap();
    assert_eq!(raw.headers()["content-type"], "audio/flac");
    assert_eq!(raw.bytes().unwrap(), original, "raw stream is the upload");
    let part = s.http.get(s.url(&format!("/rest/stream?{a}&id={tr}"))).header("range", "bytes=10-19").send().unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(&part.bytes().unwrap()[..], &original[10..20]);
    let dl = s.http.post(s.url("/rest/download.view")).header("content-type", "application/x-www-form-urlencoded").body(format!("{a}&id={tr}")).send().unwrap();
    assert_eq!(dl.bytes().unwrap(), original);
    let dur = song["duration"].as_u64().unwrap() as f64;
    let dir = tempfile::tempdir().unwrap();
    for (format, codec) in [("mp3", "mp3"), ("opus", "opus"), ("aac", "aac")] {
        let r = s.http.get(s.url(&format!("/rest/stream?{a}&id={tr}&format={format}&maxBitRate=128"))).send().unwrap();
        assert_eq!(r.status(), 200);
        let (got, secs) = judge(dir.path(), &format!("s.{format}"), &r.bytes().unwrap());
        assert_eq!(got, codec, "format={format} is really {codec}");
        assert!((secs - dur).abs() < 1.0, "{format}: {secs} s of {dur}");
    }
    // estimateContentLength: the announced length is the body's, exactly, and it still plays.
    for format in ["mp3", "aac", "opus"] {
        let r = s.http.get(s.url(&format!("/rest/stream?{a}&id={tr}&format={format}&estimateContentLength=true"))).send().unwrap();
        let announced: usize = r.headers()["content-length"].to_str().unwrap().parse().unwrap();
        let body = r.bytes().unwrap();
        assert_eq!(body.len(), announced, "{format}: the body is as long as announced");
        let (_, secs) = judge(dir.path(), &format!("est.{format}"), &body);
        assert!((secs - dur).abs() < 1.0, "{format} with an estimated length: {secs} s of {dur}");
    }
    let capped = s.http.get(s.url(&format!("/rest/stream?{a}&id={tr}&maxBitRate=96"))).send().unwrap();
    assert_eq!(capped.headers()["content-type"], "audio/mpeg", "a cap below the file's bitrate without a format is MP3");
    let late = s.http.get(s.url(&format!("/rest/stream?{a}&id={tr}&format=mp3&timeOffset=2"))).send().unwrap();
    let (_, secs) = judge(dir.path(), "late.mp3", &late.bytes().unwrap());
    assert!((secs - (dur - 2.0)).abs() < 1.0, "timeOffset=2: {secs} s of {dur}");
    let nope = s.http.get(s.url(&format!("/rest/stream?{b}&id={tr}&f=json"))).send().unwrap();
    assert_eq!(error_code(&envelope(nope.json().unwrap())), 70, "bob's stream of alice's song is an envelope, not bytes");

    // Cover art, whole and scaled.
    let cover = s.http.get(s.url(&format!("/rest/getCoverArt?{a}&id={al}&size=64"))).send().unwrap();
    assert_eq!(cover.headers()["content-type"], "image/jpeg");
    assert!(cover.bytes().unwrap().starts_with(&[0xff, 0xd8]));
    assert_eq!(error_code(&get(&s, "getCoverArt", &format!("{b}&id={al}"))), 70);
}

#[test]
fn playlists_stars_and_scrobbles_per_user() {
    let env = alice_and_bob("library/Björk - Homogenic");
    let s = env.serve();
    let a = format!("apiKey={}", env.ok(&["user", "api-key", "add", "alice"], None).trim());
    let b = "u=bob&p=bob%20password";
    let songs: Vec<String> = get(&s, "search3", &format!("{a}&query="))
        .pipe(|r| r["searchResult3"]["song"].as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap().to_string()).collect());
    assert_eq!(songs.len(), 2);

    // Create (answers the playlist, with the fields strict clients require), list, read.
    let made = get(&s, "createPlaylist", &format!("{a}&name=Road%20trip&songId={}&songId={}", songs[0], songs[1]));
    let pl = &made["playlist"];
    for field in ["id", "name", "owner", "songCount", "duration", "created", "changed"] {
        assert!(!pl[field].is_null(), "{field} in {pl}");
    }
    assert_eq!(pl["songCount"], 2);
    let id = pl["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("pl-"));
    assert_eq!(get(&s, "getPlaylists", &a)["playlists"]["playlist"].as_array().unwrap().len(), 1);
    // Bookmarks: set, moved, listed with their song, removed; another user's song is 70.
    assert!(get(&s, "getBookmarks", &a)["bookmarks"]["bookmark"].as_array().unwrap().is_empty());
    assert_eq!(get(&s, "createBookmark", &format!("{a}&id={}&position=1000&comment=chapter%202", songs[0]))["status"], "ok");
    assert_eq!(get(&s, "createBookmark", &format!("{a}&id={}&position=1250", songs[0]))["status"], "ok");
    let bm = get(&s, "getBookmarks", &a)["bookmarks"]["bookmark"].clone();
    assert_eq!((bm.as_array().unwrap().len(), bm[0]["position"].as_u64(), bm[0]["entry"]["id"].as_str()), (1, Some(1250), Some(songs[0].as_str())), "{bm}");
    assert_eq!(error_code(&get(&s, "createBookmark", &format!("{b}&id={}&position=1", songs[0]))), 70);
    assert_eq!(error_code(&get(&s, "createBookmark", &format!("{a}&id={}", songs[0]))), 10);
    assert_eq!(get(&s, "deleteBookmark", &format!("{a}&id={}", songs[0]))["status"], "ok");
    assert_eq!(error_code(&get(&s, "deleteBookmark", &format!("{a}&id={}", songs[0]))), 70);
    // Update: remove the first entry, add one, rename; the order follows.
    let u = get(&s, "updatePlaylist", &format!("{a}&playlistId={id}&name=Night&songIndexToRemove=0&songIdToAdd={}", songs[0]));
    assert_eq!(u["status"], "ok");
    let got = get(&s, "getPlaylist", &format!("{a}&id={id}"));
    assert_eq!(got["playlist"]["name"], "Night");
    let order: Vec<&str> = got["playlist"]["entry"].as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap()).collect();
    assert_eq!(order, [songs[1].as_str(), songs[0].as_str()]);
    // Someone else's playlist does not exist, nor do their songs.
    assert_eq!(error_code(&get(&s, "getPlaylist", &format!("{b}&id={id}"))), 70);
    assert!(get(&s, "getPlaylists", b)["playlists"]["playlist"].as_array().unwrap().is_empty());
    assert_eq!(error_code(&get(&s, "createPlaylist", &format!("{b}&name=Mine&songId={}", songs[0]))), 70);
    assert_eq!(error_code(&get(&s, "createPlaylist", &a)), 10);
    assert_eq!(error_code(&get(&s, "deletePlaylist", &format!("{b}&id={id}"))), 70);
    assert_eq!(get(&s, "deletePlaylist", &format!("{a}&id={id}"))["status"], "ok");
    assert_eq!(error_code(&get(&s, "getPlaylist", &format!("{a}&id={id}"))), 70);

    // Stars.
    assert_eq!(get(&s, "star", &format!("{a}&id={}", songs[1]))["status"], "ok");
    let starred = get(&s, "getStarred2", &a);
    assert_eq!(starred["starred2"]["song"][0]["id"], songs[1].as_str());
    assert_eq!(error_code(&get(&s, "star", &format!("{b}&id={}", songs[1]))), 70);
    assert_eq!(get(&s, "unstar", &format!("{a}&id={}", songs[1]))["status"], "ok");
    assert!(get(&s, "getStarred2", &a)["starred2"]["song"].as_array().unwrap().is_empty());
    assert_eq!(error_code(&get(&s, "star", &a)), 10);

    // Album lists by what the user did, and by tags.
    let list = |t: &str, extra: &str| -> Vec<String> {
        let r = get(&s, "getAlbumList2", &format!("{a}&type={t}&size=50{extra}"));
        r["albumList2"]["album"].as_array().unwrap_or_else(|| panic!("{t}: {r}")).iter().map(|x| x["name"].as_str().unwrap().to_string()).collect()
    };
    assert!(list("starred", "").is_empty());
    assert!(list("recent", "").is_empty() && list("frequent", "").is_empty(), "nothing played yet");
    assert_eq!(list("random", ""), ["Homogenic"]);
    assert_eq!(list("byYear", "&fromYear=1990&toYear=2000"), ["Homogenic"]);
    assert!(list("byYear", "&fromYear=2001&toYear=2010").is_empty());
    assert_eq!(list("byGenre", "&genre=electronic"), ["Homogenic"], "genres match case-insensitively");
    assert_eq!(error_code(&get(&s, "getAlbumList2", &format!("{a}&type=byYear"))), 10);
    assert!(list("highest", "").is_empty(), "nothing rated yet");
    // Ratings: 1 to 5, 0 removes; shown on the song; the highest list follows.
    assert_eq!(get(&s, "setRating", &format!("{a}&id={}&rating=4", songs[0]))["status"], "ok");
    assert_eq!(get(&s, "getSong", &format!("{a}&id={}", songs[0]))["song"]["userRating"], 4);
    assert_eq!(list("highest", ""), ["Homogenic"]);
    assert_eq!(error_code(&get(&s, "setRating", &format!("{a}&id={}&rating=6", songs[0]))), 0);
    assert_eq!(error_code(&get(&s, "setRating", &format!("{b}&id={}&rating=1", songs[0]))), 70, "not bob's to rate");
    assert!(get(&s, "getSong", &format!("{b}&id={}", songs[0]))["song"].is_null());
    assert_eq!(get(&s, "setRating", &format!("{a}&id={}&rating=0", songs[0]))["status"], "ok");
    assert!(get(&s, "getSong", &format!("{a}&id={}", songs[0]))["song"]["userRating"].is_null());
    assert_eq!(get(&s, "getAlbumList", &format!("{a}&type=newest"))["albumList"]["album"][0]["title"], "Homogenic");
    let genres = get(&s, "getGenres", &a);
    assert_eq!(genres["genres"]["genre"][0]["value"], "Electronic");
    assert_eq!(genres["genres"]["genre"][0]["songCount"], 1, "only Hunter is tagged Electronic");
    let xml = s.http.get(s.url(&format!("/rest/getGenres?{a}"))).send().unwrap().text().unwrap();
    assert!(
        xml.contains(r#"<genre songCount="1" albumCount="1">Electronic</genre>"#) || xml.contains(r#"<genre albumCount="1" songCount="1">Electronic</genre>"#),
        "{xml}"
    );
    let random = get(&s, "getRandomSongs", &format!("{a}&size=5"));
    assert_eq!(random["randomSongs"]["song"].as_array().unwrap().len(), 2, "all of alice's songs, none of bob's");
    assert!(get(&s, "getRandomSongs", &format!("{a}&genre=Jazz"))["randomSongs"]["song"].as_array().unwrap().is_empty());
    assert_eq!(get(&s, "getSongsByGenre", &format!("{a}&genre=Electronic&count=5"))["songsByGenre"]["song"][0]["title"], "Hunter");
    assert!(get(&s, "getSongsByGenre", &format!("{a}&genre=Electronic&offset=1"))["songsByGenre"]["song"].as_array().unwrap().is_empty());
    assert_eq!(error_code(&get(&s, "getSongsByGenre", &a)), 10);

    // The play queue moves between devices: saved by one client, read by another.
    assert!(get(&s, "getPlayQueue", &a)["playQueue"].is_null(), "nothing saved yet");
    let saved = get(&s, "savePlayQueue", &format!("{a}&id={}&id={}&current={}&position=61000&c=phone", songs[1], songs[0], songs[0]));
    assert_eq!(saved["status"], "ok");
    let q = get(&s, "getPlayQueue", &a)["playQueue"].clone();
    assert_eq!((q["current"].as_str(), q["position"].as_u64(), q["changedBy"].as_str()), (Some(songs[0].as_str()), Some(61000), Some("phone")));
    let entries: Vec<&str> = q["entry"].as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap()).collect();
    assert_eq!(entries, [songs[1].as_str(), songs[0].as_str()]);
    assert_eq!(error_code(&get(&s, "savePlayQueue", &format!("{b}&id={}", songs[0]))), 70, "not bob's songs");
    assert_eq!(error_code(&get(&s, "savePlayQueue", &format!("{a}&id={}&current=tr-999999", songs[0]))), 70);
    assert!(get(&s, "getPlayQueue", b)["playQueue"].is_null(), "bob has his own (none)");

    // Scrobbles: a now-playing note records nothing; a submission is a listen in history.
    assert_eq!(get(&s, "scrobble", &format!("{a}&id={}&submission=false", songs[0]))["status"], "ok");
    let np = get(&s, "getNowPlaying", &a)["nowPlaying"]["entry"].clone();
    assert_eq!((np[0]["id"].as_str(), np[0]["username"].as_str(), np[0]["minutesAgo"].as_i64()), (Some(songs[0].as_str()), Some("alice"), Some(0)));
    assert!(get(&s, "getNowPlaying", b)["nowPlaying"]["entry"].as_array().unwrap().is_empty(), "bob sees his own only");
    let tok = s.login("alice", ALICE_PW);
    assert!(s.json(&tok, "/api/v1/history")["items"].as_array().unwrap().is_empty());
    assert_eq!(get(&s, "scrobble", &format!("{a}&id={}", songs[0]))["status"], "ok");
    let h = s.json(&tok, "/api/v1/history");
    assert_eq!(h["items"][0]["play_count"], 1);
    assert_eq!(list("recent", ""), ["Homogenic"]);
    assert_eq!(list("frequent", ""), ["Homogenic"]);
    get(&s, "star", &format!("{a}&id={}", songs[0]));
    assert!(list("starred", "").is_empty(), "a starred song does not star its album");
    let album = get(&s, "getSong", &format!("{a}&id={}", songs[0]))["song"]["albumId"].as_str().unwrap().to_string();
    get(&s, "star", &format!("{a}&albumId={album}"));
    assert_eq!(list("starred", ""), ["Homogenic"]);
    let song = get(&s, "getSong", &format!("{a}&id={}", songs[0]))["song"].clone();
    assert_eq!(song["playCount"], 1, "{song}");
    assert!(song["played"].as_str().is_some_and(|t| t.ends_with('Z')), "{song}");
    assert!(song["starred"].is_string(), "{song}");
    assert_eq!(get(&s, "getSong", &format!("{a}&id={}", songs[1]))["song"]["playCount"], 0);
    assert_eq!(error_code(&get(&s, "scrobble", &format!("{b}&id={}", songs[0]))), 70);
}

trait Pipe: Sized {
    fn pipe<T>(self, f: impl FnOnce(Self) -> T) -> T {
        f(self)
    }
}

impl Pipe for Value {}

#[test]
fn folders_hls_scan_status_and_user_administration() {
    let env = Env::new();
    env.add_user("alice", ALICE_PW);
    env.import("alice", &[crate::common::testdata("library/Björk - Homogenic")]);
    let s = env.serve();
    let a = format!("u=alice&p={}", urlencoding(ALICE_PW));

    // The folder view: artists as directories holding albums holding songs.
    let idx = get(&s, "getIndexes", &a);
    let ar = idx["indexes"]["index"][0]["artist"][0]["id"].as_str().unwrap().to_string();
    let dir = get(&s, "getMusicDirectory", &format!("{a}&id={ar}"));
    let al = dir["directory"]["child"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(dir["directory"]["child"][0]["isDir"], true);
    let songs = get(&s, "getMusicDirectory", &format!("{a}&id={al}"));
    assert_eq!(songs["directory"]["child"].as_array().unwrap().len(), 2);
    assert_eq!(songs["directory"]["child"][0]["isDir"], false);
    assert_eq!(error_code(&get(&s, "getMusicDirectory", &format!("{a}&id=tr-1"))), 70);
    assert_eq!(get(&s, "search2", &format!("{a}&query=hunter"))["searchResult2"]["song"][0]["title"], "Hunter");
    // Artist and album info: what the catalog has, nothing invented.
    assert_eq!(get(&s, "getArtistInfo2", &format!("{a}&id={ar}"))["artistInfo2"]["similarArtist"].as_array().unwrap().len(), 0);
    assert_eq!(get(&s, "getAlbumInfo2", &format!("{a}&id={al}"))["status"], "ok");
    assert_eq!(error_code(&get(&s, "getArtistInfo2", &format!("{a}&id={al}"))), 70);
    let pic = s.http.get(s.url(&format!("/rest/getCoverArt?{a}&id={ar}&size=64"))).send().unwrap();
    assert_eq!(pic.headers()["content-type"], "image/jpeg", "an artist's picture is one of their album covers");
    assert!(get(&s, "getStarred", &a)["starred"]["song"].as_array().unwrap().is_empty());
    assert_eq!(get(&s, "getScanStatus", &a)["scanStatus"]["count"], 2);
    assert_eq!(get(&s, "startScan", &a)["scanStatus"]["scanning"], false);

    // HLS: AAC only unless asked, reached as hls.m3u8 and hls.view, playable by ffprobe.
    let tr = songs["directory"]["child"][0]["id"].as_str().unwrap().to_string();
    for path in ["hls.m3u8", "hls.view"] {
        let r = s.http.get(s.url(&format!("/rest/{path}?{a}&id={tr}&bitrate=192"))).send().unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], "application/vnd.apple.mpegurl");
        let body = r.text().unwrap();
        assert!(body.contains("mp4a.40.2") && !body.contains("opus"), "{body}");
    }
    // bitRate caps the rungs (the lowest stays when none fits).
    let variants = |q: &str| s.http.get(s.url(&format!("/rest/hls.m3u8?{a}&id={tr}&{q}"))).send().unwrap().text().unwrap().matches("#EXT-X-STREAM-INF").count();
    let all = variants("");
    assert!(all >= 2, "the AAC rungs");
    assert_eq!(variants("bitRate=100"), 1);
    assert_eq!(variants("bitRate=1"), 1);
    assert_eq!(variants("bitRate=96&bitRate=320"), all);
    let opus = s.http.get(s.url(&format!("/rest/hls.m3u8?{a}&id={tr}&codecs=opus"))).send().unwrap().text().unwrap();
    assert!(opus.contains("opus"), "{opus}");
    let probe = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0"])
        .arg(s.url(&format!("/rest/hls.m3u8?{a}&id={tr}")))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&probe.stdout).contains("aac"), "{}", String::from_utf8_lossy(&probe.stderr));

    // Administration: the same rules as the JSON API and the CLI.
    assert_eq!(get(&s, "createUser", &format!("{a}&username=carol&password=enc:{}&email=c@example.org", hex("carol password")))["status"], "ok");
    let users = get(&s, "getUsers", &a);
    assert_eq!(users["users"]["user"].as_array().unwrap().len(), 2);
    let c = "u=carol&p=carol%20password";
    assert_eq!(error_code(&get(&s, "getUsers", c)), 50);
    assert_eq!(error_code(&get(&s, "createUser", &format!("{c}&username=dave&password=dave%20password&email=d@example.org"))), 50);
    assert_eq!(error_code(&get(&s, "createUser", &format!("{a}&username=dave&password=dave%20password"))), 10, "email is required");
    // Carol changes her own password; her old one stops at once.
    assert_eq!(get(&s, "changePassword", &format!("{c}&username=carol&password=new%20carol%20password"))["status"], "ok");
    assert_eq!(error_code(&get(&s, "ping", c)), 40);
    assert_eq!(error_code(&get(&s, "changePassword", "u=carol&p=new%20carol%20password&username=alice&password=hijacked!!")), 50);
    // The last administrator stays.
    assert_eq!(error_code(&get(&s, "deleteUser", &format!("{a}&username=alice"))), 0);
    assert_eq!(get(&s, "ping", &a)["status"], "ok");
    assert_eq!(get(&s, "deleteUser", &format!("{a}&username=carol"))["status"], "ok");
    assert_eq!(error_code(&get(&s, "getUser", &format!("{a}&username=carol"))), 70);
}

#[test]
fn lyrics_album_and_artist_marks_indexes_since_and_update_user() {
    let env = alice_and_bob("library");
    let s = env.serve();
    let a = format!("u=alice&p={}", urlencoding(ALICE_PW));
    let b = "u=bob&p=bob%20password";
    let find = |q: &str| get(&s, "search3", &format!("{a}&query={q}"))["searchResult3"].clone();
    let joga = find("joga")["song"][0]["id"].as_str().unwrap().to_string();
    let staralfur = find("staralfur")["song"][0]["id"].as_str().unwrap().to_string();
    let hunter = find("hunter")["song"][0]["id"].as_str().unwrap().to_string();

    // Lyrics from the tags: LRC in a Vorbis comment (synced, ordered by time, a line with two
    // stamps twice, [offset:] and [ar:]/[ti:] kept), plain USLT with its language.
    let ext = get(&s, "getOpenSubsonicExtensions", "");
    assert!(ext["openSubsonicExtensions"].as_array().unwrap().iter().any(|e| e["name"] == "songLyrics"), "{ext}");
    let l = get(&s, "getLyricsBySongId", &format!("{a}&id={joga}"));
    let sl = &l["lyricsList"]["structuredLyrics"][0];
    assert_eq!(sl["synced"], true, "{l}");
    assert_eq!(sl["offset"], 100);
    assert_eq!(sl["displayArtist"], "Björk");
    assert_eq!(sl["lang"], "xxx", "an LRC text has no language");
    let lines: Vec<(u64, &str)> = sl["line"].as_array().unwrap().iter().map(|x| (x["start"].as_u64().unwrap(), x["value"].as_str().unwrap())).collect();
    assert_eq!(lines, [(500, "All these accidents"), (1000, "that happen"), (1400, "follow the dot"), (1800, "that happen")]);
    let l = get(&s, "getLyricsBySongId", &format!("{a}&id={staralfur}"));
    let sl = &l["lyricsList"]["structuredLyrics"][0];
    assert_eq!((sl["synced"].clone(), sl["lang"].clone()), (Value::Bool(false), Value::from("isl")), "{l}");
    assert_eq!(sl["line"], serde_json::json!([{ "value": "Blá nótt yfir mér" }, { "value": "og stjörnur" }]));
    assert!(sl["line"][0].get("start").is_none());
    // None at all: an empty list, not an error. Someone else's song: 70.
    assert_eq!(get(&s, "getLyricsBySongId", &format!("{a}&id={hunter}"))["lyricsList"]["structuredLyrics"], serde_json::json!([]));
    assert_eq!(error_code(&get(&s, "getLyricsBySongId", &format!("{b}&id={joga}"))), 70);
    assert_eq!(error_code(&get(&s, "getLyricsBySongId", &a)), 10);
    // Legacy getLyrics by artist and title, folded; the text without its stamps.
    let old = get(&s, "getLyrics", &format!("{a}&artist=bjork&title=JOGA"))["lyrics"].clone();
    assert_eq!(old["value"], "All these accidents\nthat happen\nfollow the dot\nthat happen", "{old}");
    assert_eq!((old["artist"].clone(), old["title"].clone()), (Value::from("Björk"), Value::from("Jóga")));
    assert_eq!(get(&s, "getLyrics", &format!("{a}&artist=Nobody&title=Jóga"))["lyrics"]["value"], "");
    assert_eq!(get(&s, "getLyrics", &format!("{b}&artist=Björk&title=Jóga"))["lyrics"]["value"], "", "another user's lyrics stay theirs");

    // Albums and artists are starred and rated too, shown wherever they appear.
    let album = find("homogenic")["album"][0]["id"].as_str().unwrap().to_string();
    let artist = find("bjork")["artist"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(get(&s, "star", &format!("{a}&albumId={album}&artistId={artist}"))["status"], "ok");
    assert_eq!(get(&s, "setRating", &format!("{a}&id={album}&rating=4"))["status"], "ok");
    assert_eq!(get(&s, "setRating", &format!("{a}&id={artist}&rating=5"))["status"], "ok");
    let got = get(&s, "getAlbum", &format!("{a}&id={album}"))["album"].clone();
    assert!(got["starred"].is_string() && got["userRating"] == 4, "{got}");
    let got = get(&s, "getArtist", &format!("{a}&id={artist}"))["artist"].clone();
    assert!(got["starred"].is_string() && got["userRating"] == 5 && got["album"][0]["userRating"] == 4, "{got}");
    let st = get(&s, "getStarred2", &a)["starred2"].clone();
    assert_eq!((st["album"][0]["id"].as_str(), st["artist"][0]["id"].as_str()), (Some(album.as_str()), Some(artist.as_str())), "{st}");
    assert_eq!(get(&s, "getAlbumList2", &format!("{a}&type=starred"))["albumList2"]["album"][0]["id"], album.as_str());
    assert_eq!(get(&s, "getAlbumList2", &format!("{a}&type=highest"))["albumList2"]["album"][0]["id"], album.as_str());
    assert_eq!(find("homogenic")["album"][0]["userRating"], 4, "search shows album ratings");
    // Folder-view clients star by `id`, whatever it names.
    assert_eq!(get(&s, "unstar", &format!("{a}&id={album}"))["status"], "ok");
    assert!(get(&s, "getAlbum", &format!("{a}&id={album}"))["album"]["starred"].is_null());
    assert_eq!(get(&s, "getAlbum", &format!("{a}&id={album}"))["album"]["userRating"], 4, "unstarring keeps the rating");
    assert_eq!(get(&s, "setRating", &format!("{a}&id={album}&rating=0"))["status"], "ok");
    assert!(get(&s, "getAlbum", &format!("{a}&id={album}"))["album"]["userRating"].is_null());
    assert_eq!(error_code(&get(&s, "setRating", &format!("{a}&id={album}&rating=6"))), 0);
    // Bob can touch none of it.
    assert_eq!(error_code(&get(&s, "star", &format!("{b}&albumId={album}"))), 70);
    assert_eq!(error_code(&get(&s, "setRating", &format!("{b}&id={artist}&rating=1"))), 70);
    assert_eq!(error_code(&get(&s, "star", &format!("{a}&albumId=pl-1"))), 70);
    assert!(get(&s, "getStarred2", b)["starred2"]["artist"].as_array().unwrap().is_empty());

    // getIndexes: lastModified is the library's last change; asking since then gets no index.
    let idx = get(&s, "getIndexes", &a)["indexes"].clone();
    let since = idx["lastModified"].as_u64().unwrap();
    assert!(since > 1_700_000_000_000, "milliseconds: {idx}");
    assert!(!idx["index"].as_array().unwrap().is_empty());
    let same = get(&s, "getIndexes", &format!("{a}&ifModifiedSince={since}"))["indexes"].clone();
    assert!(same.get("index").is_none() && same["lastModified"] == since, "{same}");
    assert!(get(&s, "getIndexes", &format!("{a}&ifModifiedSince={}", since - 1))["indexes"]["index"].is_array());
    assert!(get(&s, "getIndexes", &format!("{a}&ifModifiedSince=0"))["indexes"]["index"].is_array(), "a copy of time 0 reloads");
    assert_eq!(error_code(&get(&s, "getIndexes", &format!("{a}&ifModifiedSince=yesterday"))), 0);

    // updateUser: the password and the admin role; the last administrator stays one.
    assert_eq!(get(&s, "createUser", &format!("{a}&username=carol&password=carol%20password&email=c@example.org"))["status"], "ok");
    assert_eq!(
        get(&s, "updateUser", &format!("{a}&username=carol&adminRole=true&password=enc:{}&streamRole=true&maxBitRate=0", hex("fresh carol password")))["status"],
        "ok"
    );
    let c = "u=carol&p=fresh%20carol%20password";
    assert_eq!(get(&s, "getUser", &format!("{c}&username=carol"))["user"]["adminRole"], true);
    assert_eq!(error_code(&get(&s, "ping", "u=carol&p=carol%20password")), 40, "the old password stops");
    assert_eq!(get(&s, "updateUser", &format!("{c}&username=alice&adminRole=false"))["status"], "ok");
    assert_eq!(error_code(&get(&s, "getUsers", &a)), 50, "alice is a regular user now");
    assert_eq!(error_code(&get(&s, "updateUser", &format!("{c}&username=carol&adminRole=false"))), 0, "the last administrator");
    assert_eq!(error_code(&get(&s, "updateUser", &format!("{c}&username=carol&password=short&adminRole=false"))), 0);
    assert_eq!(get(&s, "getUser", &format!("{c}&username=carol"))["user"]["adminRole"], true, "a refused update changes nothing");
    assert_eq!(error_code(&get(&s, "updateUser", &format!("{a}&username=carol&adminRole=false"))), 50);
    assert_eq!(error_code(&get(&s, "updateUser", &format!("{c}&username=nobody&adminRole=true"))), 70);
    assert_eq!(error_code(&get(&s, "updateUser", c)), 10);
}

/// A Sonos-like device: MP3 as it is, MP3 transcodes up to 192 kbps.
const SONOS: &str = r#"{"name":"Play:1","platform":"Sonos","maxAudioBitrate":512000,"maxTranscodingAudioBitrate":192000,
    "directPlayProfiles":[{"containers":["mp3"],"audioCodecs":["mp3"],"protocols":["http"],"maxAudioChannels":2}],
    "transcodingProfiles":[{"container":"mp4","audioCodec":"aac","protocol":"http"},{"container":"mp3","audioCodec":"mp3","protocol":"http","maxAudioChannels":2}],
    "codecProfiles":[{"type":"AudioCodec","name":"mp3","limitations":[{"name":"audioBitrate","comparison":"LessThanEqual","values":["320000"],"required":true}]}]}"#;

#[test]
fn transcode_decisions_and_their_streams() {
    let env = alice_and_bob("library");
    let s = env.serve();
    let a = format!("u=alice&t={}&s=f00dfeed1234", token(ALICE_PW, "f00dfeed1234"));
    let b = "u=bob&p=bob%20password";
    let id_of = |q: &str| get(&s, "search3", &format!("{a}&query={q}"))["searchResult3"]["song"][0]["id"].as_str().unwrap().to_string();
    let (joga, staralfur) = (id_of("joga"), id_of("staralfur"));
    let decide = |who: &str, id: &str, body: &str| -> Value {
        let r = s
            .http
            .post(s.url(&format!("/rest/getTranscodeDecision.view?{who}&mediaId={id}&mediaType=song&f=json")))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap();
        envelope(r.json().unwrap())
    };
    let ext = get(&s, "getOpenSubsonicExtensions", "");
    assert!(ext["openSubsonicExtensions"].as_array().unwrap().iter().any(|e| e["name"] == "transcoding"));

    // A FLAC for the Sonos: AAC in MP4 cannot be sent progressively, MP3 at 192 can.
    let d = decide(&a, &joga, SONOS);
    let td = &d["transcodeDecision"];
    assert_eq!((td["canDirectPlay"].clone(), td["canTranscode"].clone()), (Value::Bool(false), Value::Bool(true)), "{d}");
    assert_eq!(td["sourceStream"]["codec"], "flac");
    assert_eq!(td["sourceStream"]["audioSamplerate"], 44100);
    assert_eq!((td["transcodeStream"]["codec"].as_str(), td["transcodeStream"]["audioBitrate"].as_u64()), (Some("mp3"), Some(192_000)));
    assert_eq!(td["transcodeReason"][0], "container 'flac' not supported by profile [mp3/mp3]");
    let params = td["transcodeParams"].as_str().unwrap().to_string();
    let stream = |who: &str, q: &str| s.http.get(s.url(&format!("/rest/getTranscodeStream?{who}&{q}"))).send().unwrap();
    let r = stream(&a, &format!("mediaId={joga}&mediaType=song&transcodeParams={params}"));
    assert_eq!((r.status().as_u16(), r.headers()["content-type"].to_str().unwrap().to_string()), (200, "audio/mpeg".to_string()));
    let dir = tempfile::tempdir().unwrap();
    let (codec, secs) = judge(dir.path(), "t.mp3", &r.bytes().unwrap());
    assert_eq!(codec, "mp3");
    assert!((secs - 1.5).abs() < 0.1, "{secs}");
    let r = stream(&a, &format!("mediaId={joga}&mediaType=song&offset=1&transcodeParams={params}"));
    let (_, secs) = judge(dir.path(), "o.mp3", &r.bytes().unwrap());
    assert!((secs - 0.5).abs() < 0.1, "offset 1 of 1.5 s leaves {secs}");
    // An MP3 the Sonos plays as it is: the original bytes.
    let d = decide(&a, &staralfur, SONOS);
    assert_eq!(d["transcodeDecision"]["canDirectPlay"], true, "{d}");
    assert!(d["transcodeDecision"]["transcodeStream"].is_null());
    let raw = stream(&a, &format!("mediaId={staralfur}&mediaType=song&transcodeParams={}", d["transcodeDecision"]["transcodeParams"].as_str().unwrap()));
    let original = std::fs::read(crate::common::testdata("library/Sigur Rós - Ágætis byrjun/02 Starálfur.mp3")).unwrap();
    assert_eq!(raw.bytes().unwrap().to_vec(), original);
    // Nothing the device takes: the reasons, no params.
    let d = decide(&a, &joga, r#"{"name":"x","platform":"y","transcodingProfiles":[{"container":"flac","audioCodec":"flac","protocol":"http"}]}"#);
    assert_eq!((d["transcodeDecision"]["canDirectPlay"].clone(), d["transcodeDecision"]["canTranscode"].clone()), (Value::Bool(false), Value::Bool(false)));
    assert_eq!(d["transcodeDecision"]["errorReason"], "no compatible playback profile found");
    assert!(d["transcodeDecision"]["transcodeParams"].is_null());

    // Bad requests are the protocol's errors; a stream's are HTTP statuses.
    assert_eq!(error_code(&decide(&a, &joga, "{not json")), 0);
    assert_eq!(error_code(&decide(&a, &joga, r#"{"name":"x","platform":"y","transcodingProfiles":[{"protocol":"rtsp"}]}"#)), 0);
    assert_eq!(error_code(&decide(b, &joga, SONOS)), 70, "another user's song");
    assert_eq!(error_code(&get(&s, "getTranscodeDecision", &format!("{a}&mediaId={joga}&mediaType=song"))), 10, "no body");
    assert_eq!(error_code(&get(&s, "getTranscodeDecision", &format!("{a}&mediaId={joga}"))), 10);
    assert_eq!(stream(&a, &format!("mediaId={joga}&mediaType=song")).status(), 400);
    assert_eq!(stream(&a, &format!("mediaId=tr-999999&mediaType=song&transcodeParams={params}")).status(), 404);
    assert_eq!(stream(&a, &format!("mediaId={staralfur}&mediaType=song&transcodeParams={params}")).status(), 410, "params of another song");
    assert_eq!(stream(&a, &format!("mediaId={joga}&mediaType=song&transcodeParams=mp3-192.1.forged")).status(), 410);
    assert_eq!(stream(b, &format!("mediaId={joga}&mediaType=song&transcodeParams={params}")).status(), 404, "bob cannot use alice's params");
    assert_eq!(stream("u=alice&p=wrong", &format!("mediaId={joga}&mediaType=song&transcodeParams={params}")).status(), 401);
    assert_eq!(stream("", &format!("mediaId={joga}&mediaType=song&transcodeParams={params}")).status(), 401);

    // The decision matches the OpenSubsonic schema.
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let raw_body: Value = s
        .http
        .post(s.url(&format!("/rest/getTranscodeDecision?{a}&mediaId={joga}&mediaType=song&f=json")))
        .header("content-type", "application/json")
        .body(SONOS)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let cases = [serde_json::json!({ "method": "getTranscodeDecision", "body": raw_body })];
    python_check(&root.join("tests/py/.venv/bin/python"), &[root.join("tests/py/validate.py"), root.join("tests/opensubsonic-openapi/openapi")], &cases);
}

#[test]
fn shares_are_public_links_until_they_expire() {
    let env = Env::new();
    env.add_user("alice", ALICE_PW);
    env.add_user("bob", "bob password");
    env.import("alice", &[crate::common::testdata("library/Björk - Homogenic")]);
    let s = env.serve();
    let a = format!("u=alice&p={}", urlencoding(ALICE_PW));
    let b = "u=bob&p=bob%20password";
    let album = get(&s, "search3", &format!("{a}&query=homogenic"))["searchResult3"]["album"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(get(&s, "getUser", &format!("{a}&username=alice"))["user"]["shareRole"], true);

    // An album shared with a description and an expiry a day ahead (milliseconds).
    // Milliseconds since the epoch, `secs` from now (whole seconds, as the expiry is kept).
    let from_now = |secs: u64| (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + secs) * 1000;
    let tomorrow = from_now(86_400);
    let made = get(&s, "createShare", &format!("{a}&id={album}&description=For%20Bob&expires={tomorrow}"));
    let sh = made["shares"]["share"][0].clone();
    assert_eq!((sh["description"].as_str(), sh["visitCount"].as_u64(), sh["entry"].as_array().map(Vec::len)), (Some("For Bob"), Some(0), Some(2)), "{made}");
    let url = sh["url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&s.base) && url.contains("/share/"), "{url} is reachable where the app reached the server");
    let id = sh["id"].as_str().unwrap().to_string();
    assert_eq!(get(&s, "getShares", &a)["shares"]["share"].as_array().unwrap().len(), 1);
    assert!(get(&s, "getShares", b)["shares"]["share"].as_array().unwrap().is_empty(), "shares are their owner's");

    // Anyone with the link, no sign-in: the songs, playable.
    let page = s.http.get(&url).send().unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().unwrap();
    assert!(html.contains("For Bob") && html.contains("Hunter") && html.contains("Jóga"), "{html}");
    let src = html.split("src=\"").nth(1).unwrap().split('"').next().unwrap().replace("&amp;", "&");
    let audio = s.http.get(s.url(&src)).send().unwrap();
    assert_eq!((audio.status().as_u16(), audio.headers()["content-type"].to_str().unwrap().to_string()), (200, "audio/mpeg".to_string()));
    let dir = tempfile::tempdir().unwrap();
    let (codec, secs) = judge(dir.path(), "s.mp3", &audio.bytes().unwrap());
    assert!(codec == "mp3" && secs > 1.0, "{codec} {secs}");
    assert_eq!(get(&s, "getShares", &a)["shares"]["share"][0]["visitCount"], 1);
    assert!(get(&s, "getShares", &a)["shares"]["share"][0]["lastVisited"].is_string());

    // Changed, refused, deleted: only by the owner; a link that ends is a plain 404.
    assert_eq!(get(&s, "updateShare", &format!("{a}&id={id}&description=Renamed"))["status"], "ok");
    assert_eq!(get(&s, "getShares", &a)["shares"]["share"][0]["description"], "Renamed");
    assert_eq!(error_code(&get(&s, "updateShare", &format!("{b}&id={id}&description=Mine"))), 70);
    assert_eq!(error_code(&get(&s, "deleteShare", &format!("{b}&id={id}"))), 70);
    assert_eq!(error_code(&get(&s, "createShare", &format!("{b}&id={album}"))), 70, "bob cannot share alice's album");
    assert_eq!(error_code(&get(&s, "createShare", &format!("{a}&id={album}&expires=1000"))), 0, "an expiry in the past");
    assert_eq!(error_code(&get(&s, "createShare", &a)), 10);
    assert_eq!(error_code(&get(&s, "createShare", &format!("{a}&id=ar-1"))), 0);
    assert_eq!(s.http.get(s.url("/share/not-a-token")).send().unwrap().status(), 404);
    assert_eq!(get(&s, "deleteShare", &format!("{a}&id={id}"))["status"], "ok");
    assert_eq!(s.http.get(&url).send().unwrap().status(), 404);
    assert_eq!(s.http.get(s.url(&src)).send().unwrap().status(), 404, "a song of a deleted link stops at once");
    assert!(!html.contains("s="), "no signed URL leaves the server: the link is the credential");
    assert_eq!(error_code(&get(&s, "deleteShare", &format!("{a}&id={id}"))), 70);
    // An expiry reached: the same.
    let soon = from_now(2);
    let short = get(&s, "createShare", &format!("{a}&id={album}&expires={soon}"))["shares"]["share"][0]["url"].as_str().unwrap().to_string();
    assert_eq!(s.http.get(format!("{short}/1")).send().unwrap().status(), 200);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert_eq!(s.http.get(&short).send().unwrap().status(), 404);
    assert_eq!(s.http.get(format!("{short}/1")).send().unwrap().status(), 404);
    assert_eq!(s.http.get(format!("{short}/9")).send().unwrap().status(), 404);
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn every_answer_matches_the_schemas_and_its_xml_twin() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = root.join("tests/py/.venv/bin/python");
    assert!(python.exists(), "run scripts/bootstrap.sh --test (it installs tests/py/requirements.txt)");
    let env = Env::new();
    env.add_user("alice", ALICE_PW);
    env.add_user("bob", "bob password");
    env.import("alice", &[crate::common::testdata("library")]);
    let s = env.serve();
    s.wait_measured("alice", ALICE_PW);
    let a = format!("u=alice&p={}", urlencoding(ALICE_PW));
    let raw = |method: &str, q: &str| -> Value { s.http.get(s.url(&format!("/rest/{method}?{a}&{q}&f=json"))).send().unwrap().json().unwrap() };
    let song = raw("search3", "query=hunter")["subsonic-response"]["searchResult3"]["song"][0]["id"].as_str().unwrap().to_string();
    let album = raw("getSong", &format!("id={song}"))["subsonic-response"]["song"]["albumId"].as_str().unwrap().to_string();
    let artist = raw("getSong", &format!("id={song}"))["subsonic-response"]["song"]["artistId"].as_str().unwrap().to_string();
    raw("star", &format!("id={song}"));
    raw("scrobble", &format!("id={song}"));
    raw("setRating", &format!("id={song}&rating=5"));
    raw("star", &format!("albumId={album}&artistId={artist}"));
    raw("setRating", &format!("id={album}&rating=4"));
    let joga = raw("search3", "query=joga")["subsonic-response"]["searchResult3"]["song"][0]["id"].as_str().unwrap().to_string();
    raw("createUser", "username=carol&password=carol%20password&email=c@example.org");
    raw("createShare", &format!("id={album}&description=Mix"));
    raw("createBookmark", &format!("id={song}&position=500&comment=here"));
    let pl = raw("createPlaylist", &format!("name=Mix&songId={song}"))["subsonic-response"]["playlist"]["id"].as_str().unwrap().to_string();
    let calls: Vec<(&str, String)> = vec![
        ("ping", String::new()),
        ("getLicense", String::new()),
        ("getOpenSubsonicExtensions", String::new()),
        ("getMusicFolders", String::new()),
        ("getScanStatus", String::new()),
        ("getUser", "username=alice".into()),
        ("getUsers", String::new()),
        ("getIndexes", String::new()),
        ("getMusicDirectory", format!("id={artist}")),
        ("getMusicDirectory", format!("id={album}")),
        ("getArtists", String::new()),
        ("getArtist", format!("id={artist}")),
        ("getArtistInfo", format!("id={artist}")),
        ("getArtistInfo2", format!("id={artist}")),
        ("getAlbumInfo", format!("id={album}")),
        ("getAlbumInfo2", format!("id={album}")),
        ("getAlbum", format!("id={album}")),
        ("getSong", format!("id={song}")),
        ("getAlbumList", "type=newest".into()),
        ("getAlbumList2", "type=random".into()),
        ("getAlbumList2", "type=highest".into()),
        ("getAlbumList2", "type=byYear&fromYear=1990&toYear=2030".into()),
        ("getRandomSongs", "size=5".into()),
        ("getSongsByGenre", "genre=Electronic".into()),
        ("getGenres", String::new()),
        ("search2", "query=bjork".into()),
        ("search3", "query=".into()),
        ("getStarred", String::new()),
        ("getStarred2", String::new()),
        ("getPlaylists", String::new()),
        ("getPlaylist", format!("id={pl}")),
        ("createPlaylist", format!("playlistId={pl}&songId={song}")),
        ("updatePlaylist", format!("playlistId={pl}&name=Renamed")),
        ("star", format!("id={song}")),
        ("unstar", format!("id={song}")),
        ("setRating", format!("id={song}&rating=3")),
        ("scrobble", format!("id={song}&submission=false")),
        ("savePlayQueue", format!("id={song}&current={song}&position=1000")),
        ("getPlayQueue", String::new()),
        ("getNowPlaying", String::new()),
        ("getLyrics", "artist=Björk&title=Jóga".into()),
        ("getLyrics", "artist=Nobody&title=Nothing".into()),
        ("getLyricsBySongId", format!("id={joga}")),
        ("getLyricsBySongId", format!("id={song}")),
        ("getIndexes", format!("ifModifiedSince={}", i64::MAX / 2)),
        ("updateUser", "username=carol&adminRole=true".into()),
        ("getShares", String::new()),
        ("getBookmarks", String::new()),
        ("setRating", format!("id={artist}&rating=2")),
        // Failures are envelopes the schemas describe too.
        ("getSong", "id=tr-999999".into()),
        ("getAlbum", String::new()),
    ];
    // Each call answered in JSON and in XML (calls that change something are idempotent here).
    let xml = |method: &str, q: &str| -> String { s.http.get(s.url(&format!("/rest/{method}?{a}&{q}"))).send().unwrap().text().unwrap() };
    let mut cases: Vec<Value> =
        calls.iter().map(|(m, q)| serde_json::json!({ "method": m, "body": raw(m, q), "xml": xml(m, q), "random": q.contains("random") })).collect();
    let unauth = |f: &str| s.http.get(s.url(&format!("/rest/ping?u=alice&p=wrong{f}"))).send().unwrap();
    cases.push(serde_json::json!({ "method": "ping", "body": unauth("&f=json").json::<Value>().unwrap(), "xml": unauth("").text().unwrap() }));
    // Against the OpenSubsonic schemas.
    let schemas = python_check(&python, &[root.join("tests/py/validate.py"), root.join("tests/opensubsonic-openapi/openapi")], &cases);
    assert_eq!(schemas["checked"].as_array().unwrap().len(), cases.len());
    // XML against JSON, by the generic mapping, parsed by Python's ElementTree.
    // (Random picks differ between the two calls, so they are left out of this comparison.)
    let random = |c: &&Value| c["method"] == "getRandomSongs" || c["body"]["subsonic-response"]["albumList2"].is_object() && c["random"] == true;
    let twins: Vec<Value> =
        cases.iter().filter(|c| !random(c)).map(|c| serde_json::json!({ "method": c["method"], "json": c["body"], "xml": c["xml"] })).collect();
    let same = python_check(&python, &[root.join("tests/py/xml_json.py")], &twins);
    assert_eq!(same["checked"].as_array().unwrap().len(), cases.len() - 2);
}

/// Runs a checker script with `cases` on stdin; its JSON line, after asserting no failures.
fn python_check(python: &std::path::Path, args: &[std::path::PathBuf], cases: &[Value]) -> Value {
    let mut child = std::process::Command::new(python).args(args).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(serde_json::to_string(cases).unwrap().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let v: Value = serde_json::from_str(text.trim()).unwrap_or_else(|_| panic!("{args:?}: {text}"));
    assert!(out.status.success() && v["failures"].as_array().is_some_and(|f| f.is_empty()), "{args:?} failures: {v:#}");
    v
}

/// Dates (`2026-12-01T10:00:00Z`) as one fixed date, and this build's version as `VERSION`:
/// what differs between runs and releases, and nothing else.
fn steady(text: &str) -> String {
    let text = text.replace(&format!("\"{}\"", env!("CARGO_PKG_VERSION")), "\"VERSION\"");
    let b = text.as_bytes();
    let shape = "dddd-dd-ddTdd:dd:ddZ".as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let fits = b.len() - i >= shape.len() && shape.iter().zip(&b[i..]).all(|(s, c)| if *s == b'd' { c.is_ascii_digit() } else { s == c });
        if fits {
            out.push_str("2000-01-01T00:00:00Z");
            i += shape.len();
        } else {
            let ch = text[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// A few envelopes as sent, XML and JSON, kept in `tests/golden/subsonic/`, so that
/// any change to the wire format shows in review. `TONEARM_UPDATE_GOLDEN=1` rewrites them.
#[test]
fn envelopes_match_their_golden_files() {
    let env = Env::new();
    env.add_user("alice", ALICE_PW);
    // One file at a time, so that ids are the same in every run.
    for f in ["01 Hunter.flac", "02 Jóga.flac"] {
        env.import("alice", &[crate::common::testdata("library/Björk - Homogenic").join(f)]);
    }
    let s = env.serve();
    s.wait_measured("alice", ALICE_PW);
    let a = format!("u=alice&p={}", urlencoding(ALICE_PW));
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/subsonic");
    let song = get(&s, "search3", &format!("{a}&query=joga"))["searchResult3"]["song"][0]["id"].as_str().unwrap().to_string();
    let album = get(&s, "getSong", &format!("{a}&id={song}"))["song"]["albumId"].as_str().unwrap().to_string();
    let cases = [
        ("ping", String::new()),
        ("getOpenSubsonicExtensions", String::new()),
        ("getAlbum", format!("id={album}")),
        ("getLyricsBySongId", format!("id={song}")),
        ("getSong", "id=tr-999999".into()),
        ("getAlbum", String::new()),
    ];
    let update = std::env::var_os("TONEARM_UPDATE_GOLDEN").is_some();
    let mut differ = Vec::new();
    for (i, (method, q)) in cases.iter().enumerate() {
        for f in ["xml", "json"] {
            let body = s.http.get(s.url(&format!("/rest/{method}?{a}&{q}&f={f}"))).send().unwrap().text().unwrap();
            // JSON is kept pretty-printed (its members in the order sent), so a review diff
            // shows the one field that changed; XML exactly as sent.
            let got = if f == "json" { steady(&serde_json::to_string_pretty(&serde_json::from_str::<Value>(&body).unwrap()).unwrap()) } else { steady(&body) };
            let path = dir.join(format!("{i}-{method}.{f}"));
            if update {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &got).unwrap();
            } else if std::fs::read_to_string(&path).ok().as_deref() != Some(got.as_str()) {
                differ.push(format!("{}:\n{got}", path.display()));
            }
        }
    }
    assert!(differ.is_empty(), "wire format changed (TONEARM_UPDATE_GOLDEN=1 to accept):\n{}", differ.join("\n"));
}
