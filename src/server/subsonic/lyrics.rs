//! Lyrics over Subsonic, from what the files' tags carry (through the `Library` service):
//! `getLyrics` (by artist and title, the text alone) and OpenSubsonic `getLyricsBySongId`
//! (the `songLyrics` extension: every text, as lines, LRC-timed where it was).

use serde_json::{Value, json};

use super::browse::from_library;
use super::envelope::Failure;
use super::ids;
use super::params::Params;
use crate::catalog::{Track, User};
use crate::media::lyrics::Lyrics;
use crate::service::Library;

/// `getLyrics`: the first of the user's songs with this title (and artist, if given) that
/// has lyrics; its text without time stamps. Nothing found is an empty `lyrics`.
pub fn get_lyrics(lib: &Library, user: &User, p: &Params) -> Result<Value, Failure> {
    let title = p.get("title").unwrap_or("");
    let found = lib.lyrics_by_name(user.id, p.get("artist"), title).map_err(from_library)?;
    let Some((t, l)) = found else { return Ok(json!({ "lyrics": { "value": "" } })) };
    let text: Vec<String> = l.lines().lines.into_iter().map(|line| line.text).collect();
    Ok(json!({ "lyrics": { "artist": t.tags.artist, "title": t.tags.title, "value": text.join("\n") } }))
}

/// `getLyricsBySongId`: every lyrics text of the song, structured.
pub fn get_lyrics_by_song_id(lib: &Library, user: &User, p: &Params) -> Result<Value, Failure> {
    let id = ids::parse_track(p.require("id")?)?;
    let t = lib.track(user.id, id).map_err(from_library)?;
    let all = lib.lyrics(user.id, id).map_err(from_library)?;
    Ok(json!({ "lyricsList": { "structuredLyrics": all.iter().map(|l| structured(&t, l)).collect::<Vec<_>>() } }))
}

fn structured(t: &Track, l: &Lyrics) -> Value {
    let lines = l.lines();
    let line: Vec<Value> = lines
        .lines
        .iter()
        .map(|x| match x.start_ms {
            Some(ms) => json!({ "start": ms, "value": x.text }),
            None => json!({ "value": x.text }),
        })
        .collect();
    json!({
        "displayArtist": lines.artist.unwrap_or_else(|| t.tags.artist.clone()),
        "displayTitle": lines.title.unwrap_or_else(|| t.tags.title.clone()),
        // "xxx": the taggers' value for an unknown language, which the spec allows.
        "lang": l.lang.clone().unwrap_or_else(|| "xxx".into()),
        "offset": lines.offset_ms,
        "synced": lines.synced,
        "line": line,
    })
}
