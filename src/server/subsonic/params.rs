//! Subsonic request parameters: the query string and, for a form POST, the body, as one
//! list (a name may repeat: `id=1&id=2`). Clients send every call either way.

use axum::extract::Request;
use http_body_util::BodyExt;

use super::envelope::{Code, Failure};

/// Largest form body accepted (parameters only; nothing is uploaded through `/rest`).
const MAX_FORM: usize = 1 << 20;

pub struct Params(Vec<(String, String)>);

impl Params {
    pub async fn from_request(req: Request) -> Result<Params, Failure> {
        let mut all: Vec<(String, String)> = form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()).into_owned().collect();
        let form = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
        if form {
            let body = http_body_util::Limited::new(req.into_body(), MAX_FORM)
                .collect()
                .await
                .map_err(|e| Failure::new(Code::Generic, format!("reading the form: {e}")))?
                .to_bytes();
            all.extend(form_urlencoded::parse(&body).into_owned());
        }
        Ok(Params(all))
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order (`id=1&id=2`).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, or error 10.
    pub fn require(&self, name: &str) -> Result<&str, Failure> {
        self.get(name).ok_or_else(|| Failure::missing(name))
    }
}
