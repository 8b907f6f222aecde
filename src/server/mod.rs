//! The HTTP surface: the JSON API and HLS under [`api`], the web player ([`web`]),
//! `/healthz` and `/metrics`, the Subsonic adapter ([`subsonic`]) and the UPnP/DLNA
//! MediaServer ([`upnp`]), served by [`listen`]. Adapters parse the request, call one service, and map the answer to the wire;
//! [`error`] maps every service error to a status, exhaustively.
//!
//! Owns: routing, extractors, wire DTOs, the error → status mapping, and the connection
//! handling. The only module that knows HTTP; it talks to the rest through the services
//! (`crate::service`), and runs blocking service calls on the blocking pool
//! ([`blocking`]), never on the async executor.

pub mod api;
pub mod error;
pub mod extract;
pub mod listen;
pub mod markup;
pub mod subsonic;
pub mod upnp;
pub mod web;

use std::future::Future;
use std::sync::Arc;

use axum::extract::FromRef;
use tokio::net::TcpListener;

use crate::service::{Accounts, Library, Playback, Services, Uploads};
pub use error::{ApiError, ApiResult};
pub use extract::{Path, Query, SmallBody, json_body, parse_id};

/// What handlers are given: the services, behind one `Arc` (the clone every request makes
/// is one atomic increment). Handlers take only the service they use (`State<Library>`).
#[derive(Clone)]
pub struct AppState(Arc<Services>, Option<Arc<upnp::Upnp>>);

impl AppState {
    /// The services, and the UPnP adapter's state when it is on.
    pub fn new(services: Services, upnp: Option<upnp::Settings>) -> AppState {
        let upnp = upnp.map(|s| Arc::new(upnp::Upnp::new(s, services.lan.clone())));
        AppState(Arc::new(services), upnp)
    }

    pub fn upnp_enabled(&self) -> bool {
        self.1.is_some()
    }
}

impl FromRef<AppState> for Accounts {
    fn from_ref(s: &AppState) -> Accounts {
        s.0.accounts.clone()
    }
}

impl FromRef<AppState> for Library {
    fn from_ref(s: &AppState) -> Library {
        s.0.library.clone()
    }
}

impl FromRef<AppState> for Playback {
    fn from_ref(s: &AppState) -> Playback {
        s.0.playback.clone()
    }
}

impl FromRef<AppState> for Uploads {
    fn from_ref(s: &AppState) -> Uploads {
        s.0.uploads.clone()
    }
}

/// Runs a blocking service call (catalog, file I/O, hashing, image scaling) off the
/// executor, its error mapped to the wire.
pub async fn blocking<T, E>(f: impl FnOnce() -> Result<T, E> + Send + 'static) -> ApiResult<T>
where
    T: Send + 'static,
    E: Into<ApiError> + Send + 'static,
{
    tokio::task::spawn_blocking(f).await?.map_err(Into::into)
}

/// The service every connection runs: the warm lane for cached segments
/// ([`api::stream::warm_segment`]), then the router for everything else.
#[derive(Clone)]
pub struct Service {
    playback: Playback,
    accounts: Accounts,
    router: axum::Router,
    /// What the CORS layer adds to a simple (non-preflight) response.
    cors_headers: [(axum::http::HeaderName, axum::http::HeaderValue); 2],
}

impl Service {
    pub fn new(state: AppState) -> Service {
        let exposed = api::EXPOSED.iter().map(|h| h.as_str()).collect::<Vec<_>>().join(",");
        let cors_headers = [
            (axum::http::header::ACCESS_CONTROL_ALLOW_ORIGIN, axum::http::HeaderValue::from_static("*")),
            (
                axum::http::header::ACCESS_CONTROL_EXPOSE_HEADERS,
                axum::http::HeaderValue::from_str(&exposed).unwrap_or(axum::http::HeaderValue::from_static("*")),
            ),
        ];
        Service { playback: Playback::from_ref(&state), accounts: Accounts::from_ref(&state), router: api::router(state), cors_headers }
    }

    pub async fn call(&self, req: axum::http::Request<hyper::body::Incoming>) -> axum::response::Response {
        use futures_util::FutureExt;
        let warm = std::panic::AssertUnwindSafe(api::stream::warm_segment(&self.playback, &self.accounts, &req)).catch_unwind().await;
        if let Ok(Some(mut r)) = warm {
            let h = r.headers_mut();
            for (k, v) in &self.cors_headers {
                h.insert(k.clone(), v.clone());
            }
            return r;
        }
        use tower::ServiceExt;
        match self.router.clone().oneshot(req.map(axum::body::Body::new)).await {
            Ok(r) => r,
            Err(never) => match never {},
        }
    }
}

/// Serves `services` on `listener` until `shutdown` resolves (see [`listen::serve`]).
pub async fn serve(
    services: Services,
    upnp: Option<upnp::Settings>,
    listener: TcpListener,
    limits: listen::Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tokio::task::spawn_blocking(web::prepare).await?;
    let service = Arc::new(Service::new(AppState::new(services, upnp)));
    listen::serve(listener, service, limits, shutdown).await
}
