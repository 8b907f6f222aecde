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
    assert!(names.contains(&"formPost") && names.contains(&"apiKeyAuthentication"), "{names:?}");

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
    let key = env.ok(&["user", "api-key", "add", "alice"], None).trim().to_string();
    let s = env.serve();
    let (host, port) = s.base.rsplit_once(':').unwrap();
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py/opensonic_client.py");
    let out = std::process::Command::new(python).arg(script).args([host, port, "alice", ALICE_PW, &key]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "py-opensonic: {text}\n{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(v["user"], "alice");
    eprintln!("py-opensonic: {v}");
}
