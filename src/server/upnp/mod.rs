//! The UPnP/DLNA MediaServer adapter (UPnP Device Architecture 1.1, MediaServer:1,
//! ContentDirectory:1, ConnectionManager:1, DLNA guidelines): for each library shared with
//! the local network (`tonearm user upnp NAME on`), one device, `/upnp/{uuid}/…`: its
//! description, the two services' SCPDs, SOAP control (`Browse`, `Search`,
//! `GetSystemUpdateID`, `GetSearchCapabilities`, `GetSortCapabilities`; `GetProtocolInfo`,
//! `GetCurrentConnectionIDs`, `GetCurrentConnectionInfo`) and GENA subscriptions
//! ([`events`]). Discovery is [`ssdp`]; DIDL-Lite is [`didl`]; the DLNA stream headers
//! are [`dlna`].
//!
//! Off unless `[upnp] enabled`; answers only peers on the local network, reached directly
//! (a request through a proxy is refused: UPnP has no credentials of its own). Every URL
//! it hands out is signed for the sharing user. Thin: the tree, the search and the
//! renditions are `service::lan`; this module parses SOAP and writes XML. Errors map to
//! UPnP error codes in [`upnp_error`], exhaustively.

pub mod criteria;
pub mod didl;
pub mod dlna;
pub mod events;
pub mod soap;
pub mod ssdp;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRef, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use axum::routing::{any, get, post};

use super::extract::origin;
use super::{ApiError, ApiResult, AppState, Path, SmallBody, blocking};
use crate::domain::UserId;
use crate::service::lan::{Entry, Lan, LanError, Listing, Node, Shared, is_lan, renditions};
use crate::service::playback::SignedList;
use didl::{Item, Signed};
use ssdp::{CONNECTION_MANAGER, CONTENT_DIRECTORY, DEVICE};

/// Deployment settings the adapter needs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The name devices list, before the user's (`Tonearm (alice)`).
    pub friendly_name: String,
}

impl FromRef<AppState> for Lan {
    fn from_ref(s: &AppState) -> Lan {
        s.0.lan.clone()
    }
}

/// The adapter's own state: its settings and the event subscriptions.
pub struct Upnp {
    pub settings: Settings,
    pub events: Arc<events::Subscriptions>,
}

impl Upnp {
    pub fn new(settings: Settings, lan: Lan) -> Upnp {
        Upnp { settings, events: Arc::new(events::Subscriptions::new(lan)) }
    }
}

/// The adapter's state, or `None` when UPnP is off.
#[derive(Clone)]
pub struct Enabled(Option<Arc<Upnp>>);

impl FromRef<AppState> for Enabled {
    fn from_ref(s: &AppState) -> Enabled {
        Enabled(s.1.clone())
    }
}

/// The routes, when UPnP is on (otherwise none: every `/upnp` path is a 404).
pub fn router(enabled: bool) -> Router<AppState> {
    if !enabled {
        return Router::new();
    }
    Router::new()
        .route("/upnp/{uuid}/description.xml", get(description))
        .route("/upnp/{uuid}/ContentDirectory.xml", get(scpd::<true>))
        .route("/upnp/{uuid}/ConnectionManager.xml", get(scpd::<false>))
        .route("/upnp/{uuid}/control/{service}", post(control))
        .route("/upnp/{uuid}/event/{service}", any(event))
}

/// The search capabilities `Search` honours.
const SEARCH_CAPS: &str = "dc:title,dc:creator,upnp:artist,upnp:albumArtist,upnp:album,upnp:genre,upnp:class";

/// Every `protocolInfo` this server may serve, for `GetProtocolInfo`.
const SOURCE_PROTOCOLS: &[&str] = &[
    "http-get:*:audio/mpeg:DLNA.ORG_PN=MP3",
    "http-get:*:audio/vnd.dlna.adts:DLNA.ORG_PN=AAC_ADTS_320",
    "http-get:*:audio/mp4:DLNA.ORG_PN=AAC_ISO_320",
    "http-get:*:audio/mp4:DLNA.ORG_PN=AAC_ISO",
    "http-get:*:audio/L16;rate=48000;channels=2:DLNA.ORG_PN=LPCM",
    "http-get:*:audio/L16;rate=48000;channels=1:DLNA.ORG_PN=LPCM",
    "http-get:*:audio/mpeg:*",
    "http-get:*:audio/mp4:*",
    "http-get:*:audio/x-flac:*",
    "http-get:*:application/ogg:*",
    "http-get:*:audio/ogg:*",
    "http-get:*:audio/wav:*",
];

/// UPnP's control error codes this adapter answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UpnpError {
    InvalidAction,
    InvalidArgs,
    ActionFailed,
    NoSuchObject,
    BadSearchCriteria,
    NoSuchContainer,
    BadConnection,
}

impl UpnpError {
    fn code(self) -> (u16, &'static str) {
        match self {
            UpnpError::InvalidAction => (401, "Invalid Action"),
            UpnpError::InvalidArgs => (402, "Invalid Args"),
            UpnpError::ActionFailed => (501, "Action Failed"),
            UpnpError::NoSuchObject => (701, "No such object"),
            UpnpError::BadSearchCriteria => (708, "Unsupported or invalid search criteria"),
            UpnpError::NoSuchContainer => (710, "No such container"),
            UpnpError::BadConnection => (706, "Invalid connection reference"),
        }
    }
}

/// Every service error, as UPnP says it.
fn upnp_error(e: &LanError) -> UpnpError {
    match e {
        LanError::NoSuchObject | LanError::NotShared => UpnpError::NoSuchObject,
        LanError::Account(_) | LanError::Library(_) | LanError::Playback(_) => {
            tracing::warn!(error = %e, "UPnP: an action failed");
            UpnpError::ActionFailed
        }
    }
}

impl From<LanError> for UpnpError {
    fn from(e: LanError) -> Self {
        upnp_error(&e)
    }
}

/// Refuses peers outside the local network, and requests that came through a proxy.
fn local_only(peer: SocketAddr, headers: &HeaderMap) -> ApiResult<()> {
    let proxied = ["forwarded", "x-forwarded-for", "x-real-ip"].iter().any(|h| headers.contains_key(*h));
    if proxied || !is_lan(peer.ip()) {
        return Err(ApiError::Forbidden("not_local", "UPnP answers devices on the local network only".into()));
    }
    Ok(())
}

/// The shared library `uuid` names (404 for any other), for a local peer, UPnP on.
async fn device(lan: &Lan, on: &Enabled, uuid: String, peer: SocketAddr, headers: &HeaderMap) -> ApiResult<(Shared, Arc<Upnp>)> {
    let upnp = on.0.clone().ok_or_else(|| ApiError::not_found("route"))?;
    local_only(peer, headers)?;
    let lan = lan.clone();
    let shared = blocking(move || lan.by_uuid(&uuid)).await?;
    Ok((shared, upnp))
}

fn xml(status: StatusCode, body: String) -> ApiResult<Response> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, HeaderValue::from_static("text/xml; charset=\"utf-8\""))
        .header(header::SERVER, ssdp::server_header())
        .header("ext", "")
        .body(Body::from(body))
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// `GET /upnp/{uuid}/description.xml`: the device description.
async fn description(
    State(lan): State<Lan>,
    State(on): State<Enabled>,
    Path(uuid): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (shared, upnp) = device(&lan, &on, uuid, peer, &headers).await?;
    let mut name = String::new();
    super::markup::escape_into(&format!("{} ({})", upnp.settings.friendly_name, shared.username), &mut name);
    let u = &shared.uuid;
    let service = |kind: &str, id: &str| {
        format!(
            "<service><serviceType>{kind}</serviceType><serviceId>urn:upnp-org:serviceId:{id}</serviceId><SCPDURL>/upnp/{u}/{id}.xml</SCPDURL><controlURL>/upnp/{u}/control/{id}</controlURL><eventSubURL>/upnp/{u}/event/{id}</eventSubURL></service>"
        )
    };
    let body = format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<root xmlns="urn:schemas-upnp-org:device-1-0" xmlns:dlna="urn:schemas-dlna-org:device-1-0"><specVersion><major>1</major><minor>0</minor></specVersion><device><deviceType>{DEVICE}</deviceType><dlna:X_DLNADOC>DMS-1.50</dlna:X_DLNADOC><friendlyName>{name}</friendlyName><manufacturer>Tonearm</manufacturer><modelDescription>Personal music locker</modelDescription><modelName>Tonearm</modelName><modelNumber>{version}</modelNumber><serialNumber>{u}</serialNumber><UDN>uuid:{u}</UDN><serviceList>{cd}{cm}</serviceList><presentationURL>/</presentationURL></device></root>"#,
        version = env!("CARGO_PKG_VERSION"),
        cd = service(CONTENT_DIRECTORY, "ContentDirectory"),
        cm = service(CONNECTION_MANAGER, "ConnectionManager"),
    );
    xml(StatusCode::OK, body)
}

/// `GET /upnp/{uuid}/ContentDirectory.xml` (`CD` true) or `…/ConnectionManager.xml`: the
/// service's description.
async fn scpd<const CD: bool>(
    State(lan): State<Lan>,
    State(on): State<Enabled>,
    Path(uuid): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    device(&lan, &on, uuid, peer, &headers).await?;
    let body = if CD { include_str!("content_directory.xml") } else { include_str!("connection_manager.xml") };
    xml(StatusCode::OK, body.to_string())
}

/// `POST /upnp/{uuid}/control/{ContentDirectory|ConnectionManager}`: one SOAP action.
async fn control(
    State(lan): State<Lan>,
    State(on): State<Enabled>,
    Path((uuid, service)): Path<(String, String)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    SmallBody(body): SmallBody,
) -> ApiResult<Response> {
    let (shared, _) = device(&lan, &on, uuid, peer, &headers).await?;
    let service_type = match service.as_str() {
        "ContentDirectory" => CONTENT_DIRECTORY,
        "ConnectionManager" => CONNECTION_MANAGER,
        _ => return Err(ApiError::not_found("service")),
    };
    let fault = |e: UpnpError| {
        let (code, text) = e.code();
        xml(StatusCode::INTERNAL_SERVER_ERROR, soap::fault(code, text))
    };
    let Ok(text) = std::str::from_utf8(&body) else { return fault(UpnpError::InvalidArgs) };
    let call = match soap::parse(text) {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %e, "UPnP: unreadable SOAP request");
            return fault(UpnpError::InvalidArgs);
        }
    };
    // The SOAPACTION header, when sent, names the same action of this service.
    if let Some(a) = headers.get("soapaction").and_then(|v| v.to_str().ok()) {
        let a = a.trim().trim_matches('"');
        if a.rsplit_once('#').is_none_or(|(st, name)| st != service_type || name != call.action) {
            return fault(UpnpError::InvalidAction);
        }
    }
    let base = origin(&headers);
    let out = match service_type {
        CONTENT_DIRECTORY => content_directory(&lan, shared.user, &call, &base).await,
        _ => connection_manager(&call),
    };
    match out {
        Ok(args) => {
            let refs: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
            xml(StatusCode::OK, soap::response(service_type, &call.action, &refs))
        }
        Err(e) => fault(e),
    }
}

type Out = Result<Vec<(&'static str, String)>, UpnpError>;

fn number(call: &soap::Call, name: &str) -> Result<u32, UpnpError> {
    match call.arg(name).map(str::trim) {
        None | Some("") => Ok(0),
        Some(v) => v.parse().map_err(|_| UpnpError::InvalidArgs),
    }
}

async fn content_directory(lan: &Lan, user: UserId, call: &soap::Call, base: &str) -> Out {
    let l = lan.clone();
    match call.action.as_str() {
        "GetSearchCapabilities" => Ok(vec![("SearchCaps", SEARCH_CAPS.into())]),
        "GetSortCapabilities" => Ok(vec![("SortCaps", String::new())]),
        "GetSystemUpdateID" => {
            let id = blocking(move || l.update_id(user)).await.map_err(|_| UpnpError::ActionFailed)?;
            Ok(vec![("Id", id.to_string())])
        }
        "Browse" | "Search" => {
            let search = call.action == "Search";
            let id = call.arg(if search { "ContainerID" } else { "ObjectID" }).ok_or(UpnpError::InvalidArgs)?;
            let node = didl::node(id.trim()).ok_or(UpnpError::NoSuchObject)?;
            let start = u64::from(number(call, "StartingIndex")?);
            let count = number(call, "RequestedCount")?;
            let listing = if search {
                let Node::Folder(within) = node else { return Err(UpnpError::NoSuchContainer) };
                let m = criteria::parse(call.arg("SearchCriteria").unwrap_or("*")).ok_or(UpnpError::BadSearchCriteria)?;
                lan_call(move || l.search(user, within, &m, start, count)).await?
            } else {
                match call.arg("BrowseFlag").map(str::trim) {
                    Some("BrowseMetadata") => lan_call(move || Ok(Listing { entries: vec![l.object(user, node)?], total: 1 })).await?,
                    Some("BrowseDirectChildren") => {
                        let Node::Folder(folder) = node else { return Err(UpnpError::NoSuchContainer) };
                        lan_call(move || l.children(user, folder, start, count)).await?
                    }
                    _ => return Err(UpnpError::InvalidArgs),
                }
            };
            let l = lan.clone();
            let update = blocking(move || l.update_id(user)).await.map_err(|_| UpnpError::ActionFailed)?;
            let result = render(lan, user, &listing.entries, base).await?;
            Ok(vec![
                ("Result", result),
                ("NumberReturned", listing.entries.len().to_string()),
                ("TotalMatches", listing.total.to_string()),
                ("UpdateID", update.to_string()),
            ])
        }
        _ => Err(UpnpError::InvalidAction),
    }
}

async fn lan_call<T: Send + 'static>(f: impl FnOnce() -> Result<T, LanError> + Send + 'static) -> Result<T, UpnpError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(UpnpError::from),
        Err(_) => Err(UpnpError::ActionFailed),
    }
}

/// The DIDL-Lite of `entries`, every URL signed for `user`.
async fn render(lan: &Lan, user: UserId, entries: &[Entry], base: &str) -> Result<String, UpnpError> {
    let mut out = String::with_capacity(256 + entries.len() * 1200);
    out.push_str(didl::OPEN);
    for e in entries {
        match e {
            Entry::Folder(f) => {
                let art: Option<SignedList> = match f.album.as_ref().filter(|a| a.cover.is_some()) {
                    Some(a) => Some(lan.album_grant(user, a).await?),
                    None => None,
                };
                didl::write(&mut out, &Item::Folder { entry: f, art: art.as_ref() }, base);
            }
            Entry::Track { track, .. } => {
                let grant = lan.grant(user, track.id).await?;
                let item =
                    Item::Track { entry: e, signed: Signed { base, grant: &grant }, renditions: renditions(track), has_cover: track.file.cover.is_some() };
                didl::write(&mut out, &item, base);
            }
        }
    }
    out.push_str(didl::CLOSE);
    Ok(out)
}

fn connection_manager(call: &soap::Call) -> Out {
    match call.action.as_str() {
        "GetProtocolInfo" => Ok(vec![("Source", SOURCE_PROTOCOLS.join(",")), ("Sink", String::new())]),
        "GetCurrentConnectionIDs" => Ok(vec![("ConnectionIDs", "0".into())]),
        "GetCurrentConnectionInfo" => match call.arg("ConnectionID").map(str::trim) {
            Some("0") => Ok(vec![
                ("RcsID", "-1".into()),
                ("AVTransportID", "-1".into()),
                ("ProtocolInfo", String::new()),
                ("PeerConnectionManager", String::new()),
                ("PeerConnectionID", "-1".into()),
                ("Direction", "Output".into()),
                ("Status", "OK".into()),
            ]),
            Some(_) => Err(UpnpError::BadConnection),
            None => Err(UpnpError::InvalidArgs),
        },
        _ => Err(UpnpError::InvalidAction),
    }
}

/// `SUBSCRIBE` / `UNSUBSCRIBE /upnp/{uuid}/event/{service}` (GENA, UDA 1.1 §4): a new
/// subscription gets a SID and the service's evented variables at once, then the
/// library's changes ([`events`]); renewals and cancellations of a known SID are answered,
/// others are 412.
async fn event(
    State(lan): State<Lan>,
    State(on): State<Enabled>,
    Path((uuid, service)): Path<(String, String)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (shared, upnp) = device(&lan, &on, uuid, peer, &headers).await?;
    let service = match service.as_str() {
        "ContentDirectory" => events::Service::ContentDirectory,
        "ConnectionManager" => events::Service::ConnectionManager,
        _ => return Err(ApiError::not_found("service")),
    };
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::trim).map(str::to_string);
    let failed = |m: &str| ApiError::Status(StatusCode::PRECONDITION_FAILED, "bad_subscription", m.to_string());
    let refused = |r: events::Refused| match r {
        events::Refused::Full => {
            ApiError::Status(StatusCode::SERVICE_UNAVAILABLE, "too_many_subscriptions", "too many event subscriptions; retry later".into())
        }
        events::Refused::Unknown => failed("no such subscription"),
    };
    let answer = |sid: Option<String>| {
        let mut b = Response::builder().header(header::SERVER, ssdp::server_header()).header(header::CONTENT_LENGTH, 0);
        if let Some(sid) = sid {
            b = b.header("sid", sid).header("timeout", format!("Second-{}", events::SUBSCRIPTION_SECS));
        }
        b.body(Body::empty()).map_err(|e| ApiError::Internal(e.to_string()))
    };
    match method.as_str() {
        "SUBSCRIBE" => match (h("sid"), h("callback"), h("nt")) {
            (Some(sid), None, None) => {
                upnp.events.renew(&sid, service).map_err(refused)?;
                answer(Some(sid))
            }
            (None, Some(callback), Some(nt)) if nt == "upnp:event" => {
                let callback = events::Callback::parse(&callback).ok_or_else(|| failed("CALLBACK names no http URL on the local network"))?;
                let l = lan.clone();
                let user = shared.user;
                let id = blocking(move || l.update_id(user)).await?;
                let initial = match service {
                    events::Service::ContentDirectory => events::property_set(&[("SystemUpdateID", id.to_string()), ("ContainerUpdateIDs", String::new())]),
                    events::Service::ConnectionManager => events::property_set(&[
                        ("SourceProtocolInfo", SOURCE_PROTOCOLS.join(",")),
                        ("SinkProtocolInfo", String::new()),
                        ("CurrentConnectionIDs", "0".into()),
                    ]),
                };
                let sid = upnp.events.subscribe(user, service, callback, id, initial).map_err(refused)?;
                answer(Some(sid))
            }
            (Some(_), _, _) => Err(ApiError::bad_request("bad_subscription", "a renewal carries SID alone, without CALLBACK or NT")),
            _ => Err(failed("SUBSCRIBE takes CALLBACK and NT: upnp:event, or SID to renew")),
        },
        "UNSUBSCRIBE" => match h("sid") {
            Some(sid) => {
                upnp.events.cancel(&sid, service).map_err(refused)?;
                answer(None)
            }
            None => Err(failed("UNSUBSCRIBE needs a SID")),
        },
        _ => Err(ApiError::MethodNotAllowed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxied_and_the_remote_are_refused() {
        let mut h = HeaderMap::new();
        assert!(local_only("192.168.0.3:5000".parse().unwrap(), &h).is_ok());
        assert!(local_only("8.8.8.8:5000".parse().unwrap(), &h).is_err());
        h.insert("x-forwarded-for", HeaderValue::from_static("192.168.0.3"));
        assert!(local_only("127.0.0.1:5000".parse().unwrap(), &h).is_err());
    }
}
