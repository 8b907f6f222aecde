//! The Subsonic / OpenSubsonic API under `/rest`: the second adapter over the same services
//! as the JSON API (never a copy of its handlers). Every method answers at
//! `/rest/{method}` and `/rest/{method}.view`, by GET or form POST (parameters from the
//! query and the form body alike), in XML (default), JSON or JSONP (`f=`, `callback=`).
//!
//! Every answer, errors included, is an HTTP 200 envelope carrying `status`, `version`,
//! `type`, `serverVersion` and `openSubsonic: true`; errors carry the protocol's codes
//! ([`envelope::Code`]). Sign-in is `u`+`p` (plain or `enc:` hex), `u`+`t`+`s` (token auth)
//! or OpenSubsonic `apiKey`, checked by `Accounts` under the same throttling as the JSON
//! API. Owns only the wire: parameter parsing, the envelope, and the mapping of service
//! errors to Subsonic codes ([`envelope::from_account`]).

mod browse;
mod envelope;
mod ids;
mod lists;
mod lyrics;
mod media;
mod params;
mod shares;
mod transcoding;
mod users;

use axum::Router;
use axum::extract::{ConnectInfo, FromRef, State};
use axum::response::Response;
use serde_json::{Value, json};

use self::envelope::{Code, Failure, Format, ok};
use self::params::Params;
use super::AppState;
use super::extract::origin;
use crate::catalog::User;
use crate::service::accounts::Credential;
use crate::service::{Accounts, Library, Playback};

/// The Subsonic API version spoken.
pub const API_VERSION: &str = "1.16.1";

/// OpenSubsonic extensions really implemented (name, versions).
const EXTENSIONS: &[(&str, &[u32])] =
    &[("formPost", &[1]), ("apiKeyAuthentication", &[1]), ("transcodeOffset", &[1]), ("songLyrics", &[1]), ("transcoding", &[1])];

pub fn router() -> Router<AppState> {
    Router::new().route("/rest/{method}", axum::routing::get(call).post(call))
}

/// One `/rest` call: parameters, format, sign-in (for every method but
/// `getOpenSubsonicExtensions`), then the method.
async fn call(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    axum::extract::Path(method): axum::extract::Path<String>,
    req: axum::extract::Request,
) -> Response {
    let method = method.strip_suffix(".view").unwrap_or(&method).to_string();
    let headers = req.headers().clone();
    let p = match Params::from_request(req).await {
        Ok(p) => p,
        Err(f) => return envelope::failure(Format::Xml, f),
    };
    let format = Format::of(&p);
    if method == "getOpenSubsonicExtensions" {
        return ok(format, extensions());
    }
    let accounts = Accounts::from_ref(&state);
    let credential = match credential(&p) {
        Ok(c) => c,
        Err(f) if method == "getTranscodeStream" => return transcoding::unauthorized(&f),
        Err(f) => return envelope::failure(format, f),
    };
    let (lib, playback) = (Library::from_ref(&state), Playback::from_ref(&state));
    let addr = peer.ip();
    if !BYTES.contains(&method.as_str()) {
        // Sign-in and the method in one blocking call: one hop off the executor per call.
        let origin = origin(&headers);
        let answer = off(move || {
            let user = sign_in(&accounts, &credential, addr)?;
            method_call(&method, &accounts, &lib, &user, &p, &origin)
        })
        .await;
        return match answer {
            Ok(body) => ok(format, body),
            Err(f) => envelope::failure(format, f),
        };
    }
    let a = accounts.clone();
    let user = match off(move || sign_in(&a, &credential, addr)).await {
        Ok(u) => u,
        Err(f) if method == "getTranscodeStream" => return transcoding::unauthorized(&f),
        Err(f) => return envelope::failure(format, f),
    };
    // Methods answering bytes rather than an envelope (their failures are envelopes), and
    // the one that needs the async playback service.
    let answer = match method.as_str() {
        "stream" => media::stream(&playback, &user, &p, &headers).await,
        "download" => media::download(&lib, &playback, &user, &p, &headers).await,
        "getCoverArt" => media::cover_art(&lib, &user, &p).await,
        "hls" | "hls.m3u8" => media::hls(&playback, &user, &p).await,
        "getTranscodeStream" => Ok(transcoding::stream(&playback, &user, &p, &headers).await),
        "getTranscodeDecision" => transcoding::decision(&playback, &user, &p).await.map(|v| ok(format.clone(), v)),
        _ => Err(Failure::new(Code::Generic, "unreachable: not a bytes method")),
    };
    answer.unwrap_or_else(|f| envelope::failure(format, f))
}

/// Methods answered outside the envelope table (bytes, or async service calls).
const BYTES: &[&str] = &["stream", "download", "getCoverArt", "hls", "hls.m3u8", "getTranscodeStream", "getTranscodeDecision"];

/// The methods that answer an envelope: one table, run off the executor.
fn method_call(method: &str, accounts: &Accounts, lib: &Library, u: &User, p: &Params, origin: &str) -> Result<Value, Failure> {
    match method {
        "ping" => Ok(json!({})),
        "getLicense" => Ok(json!({ "license": { "valid": true } })),
        "getMusicFolders" => Ok(json!({ "musicFolders": { "musicFolder": [{ "id": 1, "name": "Music" }] } })),
        "getScanStatus" | "startScan" => {
            // There is no scan: files arrive by import and upload, and are in the library as
            // soon as they are committed. The count is the user's tracks.
            let (_, total) = lib.tracks(u.id, crate::catalog::Page::new(Some(1), None)).map_err(browse::from_library)?;
            Ok(json!({ "scanStatus": { "scanning": false, "count": total } }))
        }
        "getUser" => users::get_user(accounts, u, p),
        "getUsers" => users::get_users(accounts, u),
        "createUser" => users::create_user(accounts, u, p),
        "updateUser" => users::update_user(accounts, u, p),
        "deleteUser" => users::delete_user(accounts, u, p),
        "changePassword" => users::change_password(accounts, u, p),
        "getIndexes" => browse::get_indexes(lib, u, p),
        "getMusicDirectory" => browse::get_music_directory(lib, u, p),
        "getArtists" => browse::get_artists(lib, u),
        "getArtist" => browse::get_artist(lib, u, p),
        "getArtistInfo" => browse::get_artist_info(lib, u, p, false),
        "getArtistInfo2" => browse::get_artist_info(lib, u, p, true),
        "getAlbumInfo" | "getAlbumInfo2" => browse::get_album_info(lib, u, p),
        "getAlbum" => browse::get_album(lib, u, p),
        "getSong" => browse::get_song(lib, u, p),
        "getAlbumList" => browse::get_album_list(lib, u, p, false),
        "getAlbumList2" => browse::get_album_list(lib, u, p, true),
        "getRandomSongs" => browse::get_random_songs(lib, u, p),
        "getSongsByGenre" => browse::get_songs_by_genre(lib, u, p),
        "getGenres" => browse::get_genres(lib, u),
        "search2" => browse::search2(lib, u, p),
        "search3" => browse::search3(lib, u, p),
        "getStarred" => browse::get_starred(lib, u, false),
        "getStarred2" => browse::get_starred(lib, u, true),
        "getPlaylists" => lists::get_playlists(lib, u),
        "getPlaylist" => lists::get_playlist(lib, u, p),
        "createPlaylist" => lists::create_playlist(lib, u, p),
        "updatePlaylist" => lists::update_playlist(lib, u, p),
        "deletePlaylist" => lists::delete_playlist(lib, u, p),
        "star" => lists::star(lib, u, p, true),
        "unstar" => lists::star(lib, u, p, false),
        "scrobble" => lists::scrobble(lib, u, p),
        "setRating" => lists::set_rating(lib, u, p),
        "savePlayQueue" => lists::save_play_queue(lib, u, p),
        "getPlayQueue" => lists::get_play_queue(lib, u),
        "getNowPlaying" => lists::get_now_playing(lib, u),
        "getLyrics" => lyrics::get_lyrics(lib, u, p),
        "createBookmark" => lists::create_bookmark(lib, u, p),
        "deleteBookmark" => lists::delete_bookmark(lib, u, p),
        "getBookmarks" => lists::get_bookmarks(lib, u),
        "getShares" => shares::get_shares(lib, u, origin),
        "createShare" => shares::create_share(lib, u, p, origin),
        "updateShare" => shares::update_share(lib, u, p),
        "deleteShare" => shares::delete_share(lib, u, p),
        "getLyricsBySongId" => lyrics::get_lyrics_by_song_id(lib, u, p),
        other => Err(Failure::new(Code::Generic, format!("method {other:?} is not implemented"))),
    }
}

fn extensions() -> Value {
    let list: Vec<Value> = EXTENSIONS.iter().map(|(name, versions)| json!({ "name": name, "versions": versions })).collect();
    json!({ "openSubsonicExtensions": list })
}

/// The credential the request carries. Conflicting or incomplete credentials are the
/// protocol's own errors (10, 43), never a bare HTTP error.
fn credential(p: &Params) -> Result<Owned, Failure> {
    let (u, api_key) = (p.get("u"), p.get("apiKey"));
    Ok(match (api_key, u) {
        (Some(_), Some(_)) => return Err(Failure::new(Code::ConflictingAuth, "give either apiKey or u, not both")),
        (Some(key), None) => Owned::ApiKey(key.to_string()),
        (None, Some(u)) => match (p.get("p"), p.get("t"), p.get("s")) {
            (Some(pw), _, _) => Owned::Password(u.to_string(), decode_password(pw)?),
            (None, Some(t), Some(s)) => Owned::Token(u.to_string(), t.to_string(), s.to_string()),
            (None, Some(_), None) => return Err(Failure::missing("s")),
            _ => return Err(Failure::missing("p or t and s")),
        },
        (None, None) => return Err(Failure::missing("u (or apiKey)")),
    })
}

/// Checks the credential (blocking: the catalog, and argon2 for a first `p=` sign-in).
fn sign_in(accounts: &Accounts, credential: &Owned, addr: std::net::IpAddr) -> Result<User, Failure> {
    let c = match credential {
        Owned::Password(u, pw) => Credential::Password { username: u, password: pw },
        Owned::Token(u, t, s) => Credential::Token { username: u, token: t, salt: s },
        Owned::ApiKey(k) => Credential::ApiKey(k),
    };
    accounts.check(c, Some(addr)).map_err(envelope::from_account)
}

/// Runs a blocking service call off the executor.
async fn off<T: Send + 'static>(f: impl FnOnce() -> Result<T, Failure> + Send + 'static) -> Result<T, Failure> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Failure::new(Code::Generic, format!("worker task failed: {e}")))?
}

enum Owned {
    Password(String, String),
    Token(String, String, String),
    ApiKey(String),
}

/// `p=` in clear or as `enc:` followed by the hex of its UTF-8 bytes.
fn decode_password(raw: &str) -> Result<String, Failure> {
    let Some(hex) = raw.strip_prefix("enc:") else { return Ok(raw.to_string()) };
    let bad = || Failure::new(Code::WrongCredentials, "wrong username or password");
    if hex.len() % 2 != 0 {
        return Err(bad());
    }
    let bytes =
        (0..hex.len()).step_by(2).map(|i| hex.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect::<Option<Vec<u8>>>().ok_or_else(bad)?;
    String::from_utf8(bytes).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_come_plain_or_hex_encoded() {
        assert_eq!(decode_password("sesame").ok().as_deref(), Some("sesame"));
        assert_eq!(decode_password("enc:736573616d65").ok().as_deref(), Some("sesame"));
        assert_eq!(decode_password("enc:c3a9").ok().as_deref(), Some("é"));
        assert!(decode_password("enc:7").is_err());
        assert!(decode_password("enc:zz").is_err());
        assert!(decode_password("enc:ff").is_err(), "not UTF-8");
    }
}
