//! Subsonic request parameters: the query string and, for a form POST, the body, as one
//! list (a name may repeat: `id=1&id=2`). Clients send every call either way. A JSON body
//! is kept as it is, for the method that takes one.

use axum::extract::Request;
use http_body_util::BodyExt;

use super::envelope::{Code, Failure};

/// Largest body accepted (parameters or a device profile; nothing is uploaded through `/rest`).
const MAX_FORM: usize = 1 << 20;

/// The parameters, and a JSON body when one was sent (OpenSubsonic POSTs a device profile
/// to `getTranscodeDecision`).
pub struct Params(Vec<(String, String)>, Option<bytes::Bytes>);

impl Params {
    pub async fn from_request(req: Request) -> Result<Params, Failure> {
        let mut all: Vec<(String, String)> = form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()).into_owned().collect();
        let kind = req.headers().get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").trim_start().to_ascii_lowercase();
        let (form, json) = (kind.starts_with("application/x-www-form-urlencoded"), kind.starts_with("application/json"));
        let mut body = None;
        if form || json {
            let bytes = http_body_util::Limited::new(req.into_body(), MAX_FORM)
                .collect()
                .await
                .map_err(|e| Failure::new(Code::Generic, format!("reading the request body: {e}")))?
                .to_bytes();
            if form {
                all.extend(form_urlencoded::parse(&bytes).into_owned());
            } else {
                body = Some(bytes);
            }
        }
        Ok(Params(all, body))
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order (`id=1&id=2`).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The JSON body, if one was sent.
    pub fn json_body(&self) -> Option<&[u8]> {
        self.1.as_deref()
    }

    /// The first value of `name`, or error 10.
    pub fn require(&self, name: &str) -> Result<&str, Failure> {
        self.get(name).ok_or_else(|| Failure::missing(name))
    }
}
