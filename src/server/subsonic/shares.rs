//! Shares over Subsonic (`getShares`, `createShare`, `updateShare`, `deleteShare`), through
//! the `Library` service: a public link (`/share/{token}`, the page in `server::api::share`)
//! to songs, an album's or a playlist's songs, until it expires. Ids are `sh-…`.

use serde_json::{Value, json};

use super::browse::{from_library, iso8601, songs};
use super::envelope::{Code, Failure};
use super::ids;
use super::params::Params;
use crate::catalog::{Share, User};
use crate::service::Library;
use crate::service::library::Shared;

/// `expires` in milliseconds since the epoch (0 or empty: never) → seconds.
fn expires(p: &Params) -> Result<Option<Option<i64>>, Failure> {
    match p.get("expires") {
        None => Ok(None),
        Some("") | Some("0") => Ok(Some(None)),
        Some(v) => v.parse::<i64>().map(|ms| Some(Some(ms / 1000))).map_err(|_| Failure::new(Code::Generic, "expires is milliseconds since the epoch")),
    }
}

fn share_json(lib: &Library, user: &User, origin: &str, s: &Share) -> Result<Value, Failure> {
    let mut tracks = Vec::with_capacity(s.tracks.len());
    for &id in &s.tracks {
        if let Ok(t) = lib.track(user.id, id) {
            tracks.push(t);
        }
    }
    let mut v = json!({
        "id": ids::share(s.id),
        "url": format!("{origin}/share/{}", s.token),
        "description": s.description,
        "username": user.username,
        "created": iso8601(s.created_at),
        "visitCount": s.visits,
        "entry": songs(lib, user, &tracks)?,
    });
    if let Some(at) = s.expires_at {
        v["expires"] = json!(iso8601(at));
    }
    if let Some(at) = s.last_visited_at {
        v["lastVisited"] = json!(iso8601(at));
    }
    Ok(v)
}

pub fn get_shares(lib: &Library, user: &User, origin: &str) -> Result<Value, Failure> {
    let all = lib.shares(user.id).map_err(from_library)?;
    let list = all.iter().map(|s| share_json(lib, user, origin, s)).collect::<Result<Vec<_>, _>>()?;
    Ok(json!({ "shares": { "share": list } }))
}

/// `createShare`: `id`… of songs, albums or playlists; answers the new share.
pub fn create_share(lib: &Library, user: &User, p: &Params, origin: &str) -> Result<Value, Failure> {
    let items = p
        .all("id")
        .map(|raw| match ids::parse_playlist(raw) {
            Ok(pl) => Ok(Shared::Playlist(pl)),
            Err(_) => match ids::parse_item(raw, "item")? {
                ids::Item::Track(t) => Ok(Shared::Track(t)),
                ids::Item::Album(a) => Ok(Shared::Album(a)),
                ids::Item::Artist(_) => Err(Failure::new(Code::Generic, "share songs, albums or playlists, not artists")),
            },
        })
        .collect::<Result<Vec<_>, _>>()?;
    if items.is_empty() {
        return Err(Failure::missing("id"));
    }
    let s = lib.create_share(user.id, &items, p.get("description").unwrap_or(""), expires(p)?.flatten()).map_err(from_library)?;
    Ok(json!({ "shares": { "share": [share_json(lib, user, origin, &s)?] } }))
}

pub fn update_share(lib: &Library, user: &User, p: &Params) -> Result<Value, Failure> {
    let id = ids::parse_share(p.require("id")?)?;
    lib.update_share(user.id, id, p.get("description"), expires(p)?).map_err(from_library)?;
    Ok(json!({}))
}

pub fn delete_share(lib: &Library, user: &User, p: &Params) -> Result<Value, Failure> {
    lib.delete_share(user.id, ids::parse_share(p.require("id")?)?).map_err(from_library)?;
    Ok(json!({}))
}
