//! The `subsonic-response` envelope in XML, JSON or JSONP, and the protocol's error codes.
//! Answers are built once as JSON values in the OpenSubsonic shape; XML is derived from
//! them by one rule (scalars become attributes, objects and arrays of objects child
//! elements, arrays of scalars repeated elements with text), so both carry the same fields.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::params::Params;
use crate::server::markup::escape_into;
use crate::service::accounts::AccountError;

/// Subsonic error codes (subsonic.org/pages/api.jsp, OpenSubsonic additions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Generic = 0,
    MissingParameter = 10,
    WrongCredentials = 40,
    TokenAuthUnsupported = 41,
    ConflictingAuth = 43,
    InvalidApiKey = 44,
    NotAuthorized = 50,
    NotFound = 70,
}

/// A failed call: its code and message, and the HTTP status when it is not 200 (a sign-in
/// throttle answers 429 with `Retry-After`, which apps retry).
#[derive(Debug)]
pub struct Failure {
    pub code: Code,
    pub message: String,
    pub retry_after: Option<u32>,
}

impl Failure {
    pub fn new(code: Code, message: impl Into<String>) -> Failure {
        Failure { code, message: message.into(), retry_after: None }
    }

    pub fn missing(name: &str) -> Failure {
        Failure::new(Code::MissingParameter, format!("required parameter is missing: {name}"))
    }
}

/// Every account error as the protocol says it.
pub fn from_account(e: AccountError) -> Failure {
    let code = match &e {
        AccountError::BadCredentials | AccountError::Disabled => Code::WrongCredentials,
        AccountError::TokenAuthOff => Code::TokenAuthUnsupported,
        AccountError::BadApiKey => Code::InvalidApiKey,
        AccountError::NotAdmin => Code::NotAuthorized,
        AccountError::NoSuchUser | AccountError::NoSuchApiKey => Code::NotFound,
        AccountError::Throttled(secs) => return Failure { code: Code::Generic, message: e.to_string(), retry_after: Some(*secs) },
        AccountError::BadUsername | AccountError::WeakPassword | AccountError::BadLabel | AccountError::LastAdmin(_) => Code::Generic,
        AccountError::Hash(_) | AccountError::Catalog(_) | AccountError::Ingest(_) => {
            tracing::error!(error = %e, "subsonic call failed");
            return Failure::new(Code::Generic, "internal server error");
        }
    };
    Failure::new(code, e.to_string())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    Xml,
    Json,
    Jsonp(String),
}

impl Format {
    pub fn of(p: &Params) -> Format {
        match p.get("f") {
            Some("json") => Format::Json,
            Some("jsonp") => Format::Jsonp(p.get("callback").filter(|c| valid_callback(c)).unwrap_or("callback").to_string()),
            _ => Format::Xml,
        }
    }
}

/// A JSONP callback is a dotted JavaScript name, nothing that could inject script.
fn valid_callback(c: &str) -> bool {
    !c.is_empty() && c.len() <= 128 && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '.' || ch == '$')
}

fn head(status: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("status".into(), json!(status));
    m.insert("version".into(), json!(super::API_VERSION));
    m.insert("type".into(), json!("tonearm"));
    m.insert("serverVersion".into(), json!(env!("CARGO_PKG_VERSION")));
    m.insert("openSubsonic".into(), json!(true));
    m
}

/// A successful answer: the envelope with `body`'s fields.
pub fn ok(format: Format, body: Value) -> Response {
    let mut m = head("ok");
    if let Value::Object(fields) = body {
        m.extend(fields);
    }
    render(format, m, StatusCode::OK, None)
}

pub fn failure(format: Format, f: Failure) -> Response {
    let mut m = head("failed");
    m.insert("error".into(), json!({ "code": f.code as u32, "message": f.message }));
    let status = if f.retry_after.is_some() { StatusCode::TOO_MANY_REQUESTS } else { StatusCode::OK };
    render(format, m, status, f.retry_after)
}

fn render(format: Format, m: Map<String, Value>, status: StatusCode, retry_after: Option<u32>) -> Response {
    let (mime, body) = match format {
        Format::Json => ("application/json", json!({ "subsonic-response": m }).to_string()),
        Format::Jsonp(cb) => ("application/javascript", format!("{cb}({});", json!({ "subsonic-response": m }))),
        Format::Xml => {
            let mut out = String::from(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
            let mut m = m;
            m.insert("xmlns".into(), json!("http://subsonic.org/restapi"));
            element(&mut out, "subsonic-response", &m);
            ("text/xml; charset=utf-8", out)
        }
    };
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(secs) = retry_after {
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    r
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `<name a="…">children</name>`: scalar fields as attributes, the rest as children; a
/// field named `value` is the element's text (`<genre songCount="3">Rock</genre>`).
fn element(out: &mut String, name: &str, fields: &Map<String, Value>) {
    out.push('<');
    out.push_str(name);
    for (k, v) in fields {
        if k == "value" {
            continue;
        }
        if let Some(s) = scalar(v) {
            out.push(' ');
            out.push_str(k);
            out.push_str("=\"");
            escape_into(&s, out);
            out.push('"');
        }
    }
    let children: Vec<(&String, &Value)> = fields.iter().filter(|(_, v)| scalar(v).is_none() && !v.is_null()).collect();
    let text = fields.get("value").and_then(scalar);
    if children.is_empty() && text.is_none() {
        out.push_str("/>");
        return;
    }
    out.push('>');
    if let Some(t) = text {
        escape_into(&t, out);
    }
    for (k, v) in children {
        child(out, k, v);
    }
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

fn child(out: &mut String, name: &str, v: &Value) {
    match v {
        Value::Object(m) => element(out, name, m),
        Value::Array(items) => {
            for item in items {
                child(out, name, item);
            }
        }
        other => {
            if let Some(s) = scalar(other) {
                out.push('<');
                out.push_str(name);
                out.push('>');
                escape_into(&s, out);
                out.push_str("</");
                out.push_str(name);
                out.push('>');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xml(v: Value) -> String {
        let mut out = String::new();
        if let Value::Object(m) = v {
            element(&mut out, "r", &m);
        }
        out
    }

    #[test]
    fn xml_follows_the_json_shape() {
        assert_eq!(xml(json!({"a": 1, "b": "x&y"})), r#"<r a="1" b="x&amp;y"/>"#);
        assert_eq!(xml(json!({"list": {"item": [{"id": 1}, {"id": 2}]}})), r#"<r><list><item id="1"/><item id="2"/></list></r>"#);
        assert_eq!(
            xml(json!({"e": {"name": "formPost", "versions": [1, 2]}})),
            r#"<r><e name="formPost"><versions>1</versions><versions>2</versions></e></r>"#
        );
        assert_eq!(xml(json!({"n": null, "t": "a\u{1}b"})), r#"<r t="ab"/>"#);
        assert_eq!(xml(json!({"genre": [{"value": "Rock & Roll", "songCount": 3}]})), r#"<r><genre songCount="3">Rock &amp; Roll</genre></r>"#);
    }

    #[test]
    fn jsonp_callbacks_are_names_only() {
        assert!(valid_callback("cb_1.x"));
        assert!(!valid_callback("alert(1)//"));
        assert!(!valid_callback(""));
    }
}
