//! The library's rules as pure functions over domain types: which album a track belongs to
//! ([`plan_album`], [`choose_album`]), when an album becomes "Various Artists"
//! ([`becomes_various`]), sort keys, titles and artists from tags, how a tag edit is
//! validated ([`validate_edit`]) and applied ([`apply_edit`]), and which blobs a track
//! references and which become free when references go ([`track_refs`], [`release`]).
//!
//! Owns: these decisions, the grouping-key format stored with albums, and the names they
//! use ("Various Artists", "Unknown Album"). Depends on `domain` and `catalog::fold` only:
//! no SQL, no engine, no I/O, no clock, so every engine shares them and they are tested
//! here apart from any database.

use std::collections::HashMap;
use std::path::Path;

use super::fold::fold;
use super::{TagEdit, Track};
use crate::domain::{AlbumId, ContentHash, Part, Tags};

/// The album artist of a compilation.
pub const VARIOUS: &str = "Various Artists";
/// The artist of a track whose tags name none.
pub const UNKNOWN_ARTIST: &str = "Unknown Artist";
/// The album of a track whose tags name none.
pub const UNKNOWN_ALBUM: &str = "Unknown Album";

/// Sort key: folded, with a leading English article moved out of the way.
pub fn sort_key(name: &str) -> String {
    let f = fold(name);
    for article in ["the ", "a ", "an "] {
        if let Some(rest) = f.strip_prefix(article)
            && !rest.is_empty()
        {
            return rest.to_string();
        }
    }
    f
}

/// An artist's identity in one library: names that fold alike are one artist.
pub fn artist_key(name: &str) -> String {
    fold(name)
}

/// "03 - Jóga.flac" → "03 - Jóga": a title of last resort for untagged files.
pub fn title_from_file(name: &str) -> String {
    let stem = Path::new(name).file_stem().and_then(|s| s.to_str()).unwrap_or(name);
    if stem.trim().is_empty() { name.to_string() } else { stem.trim().to_string() }
}

/// A new track's title: its tag, else its file name.
pub fn track_title(tags: &Tags, file_name: &str) -> String {
    tags.title.clone().unwrap_or_else(|| title_from_file(file_name))
}

/// The artist a track is shown with: the artist tag, else the first of its artists, else
/// "Unknown Artist".
pub fn display_artist(tags: &Tags) -> String {
    tags.artist.clone().or_else(|| tags.artists.first().cloned()).unwrap_or_else(|| UNKNOWN_ARTIST.into())
}

/// The artists a track is listed under, primary first; never empty.
pub fn artist_names(tags: &Tags, display: &str) -> Vec<String> {
    if tags.artists.is_empty() { vec![display.to_string()] } else { tags.artists.clone() }
}

/// Where a track belongs among a user's albums, from its tags and folder alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlbumPlan {
    /// The grouping key of the album the track makes when no other claims it (unique per
    /// user, stored with the album).
    pub key: String,
    pub title: String,
    /// The album artist: the album-artist tag, "Various Artists" for a compilation flag,
    /// else the track artist.
    pub artist: String,
    /// Whether the tags name the album artist (album-artist tag or compilation flag). An
    /// album they do not name is grouped by folder or track artist, and becomes "Various
    /// Artists" once its tracks name more than one artist.
    pub explicit: bool,
    /// For a file in a folder: the album it shares with the folder's other files of the same
    /// title and the same effective album artist.
    pub folder: Option<FolderLink>,
}

/// How a file in a folder meets the folder's files of the same album title that its key
/// alone does not find: those with the album-artist tag are grouped by it across folders,
/// those without by folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FolderLink {
    /// A file the tags name an album artist for: the folder's album of files without one
    /// (this key), which it takes in when that album's one artist is this album artist.
    Absorb { key: String },
    /// A file without an album artist: the album its artist has under this title by
    /// album-artist tags (this key), which it joins when that album already holds a file
    /// from `folder`.
    Join { key: String, folder: String },
}

fn tagged_key(album_artist: &str, title: &str) -> String {
    format!("a\u{1f}{}\u{1f}{}", fold(album_artist), fold(title))
}

fn folder_key(folder: &str, title: &str) -> String {
    format!("d\u{1f}{folder}\u{1f}{}", fold(title))
}

/// The album a track makes or joins. Files with an album artist (or a compilation flag) are
/// grouped by it and the album title, across folders. Files without one are grouped by
/// folder and album title, so an untagged compilation stays one album; uploads, which have
/// no folder, by track artist. Files of one folder with the same album title and the same
/// *effective* album artist (the album-artist tag, else the track artist) are one album
/// whether or not each has the tag: see [`FolderLink`] and [`choose_album`].
pub fn plan_album(tags: &Tags, folder: Option<&str>, display_artist: &str) -> AlbumPlan {
    let title = tags.album.clone().unwrap_or_else(|| UNKNOWN_ALBUM.to_string());
    let tagged = tags.album_artist.clone().or_else(|| tags.compilation.then(|| VARIOUS.to_string()));
    match tagged {
        Some(aa) => {
            let link = folder.map(|f| FolderLink::Absorb { key: folder_key(f, &title) });
            AlbumPlan { key: tagged_key(&aa, &title), title, artist: aa, explicit: true, folder: link }
        }
        None => match folder {
            Some(f) => AlbumPlan {
                key: folder_key(f, &title),
                folder: Some(FolderLink::Join { key: tagged_key(display_artist, &title), folder: f.to_string() }),
                title,
                artist: display_artist.to_string(),
                explicit: false,
            },
            None => AlbumPlan {
                key: format!("t\u{1f}{}\u{1f}{}", fold(display_artist), fold(&title)),
                title,
                artist: display_artist.to_string(),
                explicit: false,
                folder: None,
            },
        },
    }
}

/// The folder an album of files without album artist was grouped by, from its key.
pub fn folder_of_key(key: &str) -> Option<String> {
    key.rsplit_once('\u{1f}').and_then(|(scope, _)| scope.strip_prefix("d\u{1f}")).map(str::to_string)
}

/// The folder of an imported file, from its path (as `import` names it).
pub fn folder_of_path(path: &str) -> Option<String> {
    Path::new(path).parent().map(|p| p.to_string_lossy().into_owned())
}

/// What the rules need to know about an album already in the library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlbumHead {
    /// Whether the tags named its artist ([`AlbumPlan::explicit`]).
    pub explicit: bool,
    pub artist: String,
}

/// A folder's album of files without album artist, as [`FolderLink::Absorb`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderAlbum {
    pub id: AlbumId,
    pub head: AlbumHead,
    /// How many distinct primary artists its tracks have.
    pub artist_count: u64,
}

/// The albums a plan's choice depends on, as looked up in the library.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlbumsFound {
    /// The album with the plan's key.
    pub keyed: Option<AlbumId>,
    /// [`FolderLink::Join`]: the tagged album, if it holds a file from the folder.
    pub tagged: Option<AlbumId>,
    /// [`FolderLink::Absorb`]: the folder's album of files without album artist.
    pub untagged: Option<FolderAlbum>,
}

/// Which album a planned track goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlbumChoice {
    /// An existing album; `None`: a new one, as the plan describes.
    pub album: Option<AlbumId>,
    /// An album to merge into the chosen one once the track is in it: its folder's files
    /// without album artist, whose one artist is this album artist.
    pub absorb: Option<AlbumId>,
}

/// Chooses between the albums [`plan_album`]'s links found (see [`FolderLink`]).
pub fn choose_album(plan: &AlbumPlan, found: &AlbumsFound) -> AlbumChoice {
    match &plan.folder {
        Some(FolderLink::Join { .. }) => AlbumChoice { album: found.tagged.or(found.keyed), absorb: None },
        Some(FolderLink::Absorb { .. }) => {
            let absorb = found
                .untagged
                .as_ref()
                .filter(|d| Some(d.id) != found.keyed && !d.head.explicit && d.artist_count <= 1 && fold(&d.head.artist) == fold(&plan.artist))
                .map(|d| d.id);
            AlbumChoice { album: found.keyed, absorb }
        }
        None => AlbumChoice { album: found.keyed, absorb: None },
    }
}

/// Whether an album may still become a compilation, so that its artists are worth counting:
/// one the tags did not name, and not one already.
pub fn may_become_various(album: &AlbumHead) -> bool {
    !album.explicit && album.artist != VARIOUS
}

/// A folder- or artist-grouped album (one the tags did not name) whose tracks name more
/// than one artist (`artist_count`) is a compilation: it becomes "Various Artists".
pub fn becomes_various(album: &AlbumHead, artist_count: u64) -> bool {
    may_become_various(album) && artist_count > 1
}

/// Whether the blobs of a file add up to its size.
pub fn parts_add_up(parts: &[Part], size: u64) -> bool {
    parts.iter().map(|p| p.len).sum::<u64>() == size
}

/// The blob references one track holds: one per part of its file, and its cover.
pub fn track_refs(parts: &[Part], cover: Option<ContentHash>) -> Vec<ContentHash> {
    let mut refs: Vec<ContentHash> = parts.iter().map(|p| p.hash).collect();
    refs.extend(cover);
    refs
}

/// Drops one reference per entry of `refs` from `counts` (the stored reference counts of
/// those blobs; a blob missing from it is not catalogued and is left alone). Returns the
/// blobs left without any, in the order they lost their last, and takes them out of
/// `counts`, which is left holding the new count of every other blob.
pub fn release(counts: &mut HashMap<ContentHash, u64>, refs: &[ContentHash]) -> Vec<ContentHash> {
    let mut freed = Vec::new();
    for h in refs {
        if let Some(n) = counts.get_mut(h) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(h);
                freed.push(*h);
            }
        }
    }
    freed
}

/// The longest text tag value an edit may set, in bytes.
pub const MAX_TAG_BYTES: usize = 1024;

/// Checks a tag edit's values; the message says what is wrong.
pub fn validate_edit(e: &TagEdit) -> Result<(), String> {
    let texts = [&e.title, &e.artist, &e.album].into_iter().flatten().chain(e.album_artist.iter().flatten()).chain(e.genre.iter().flatten());
    for t in texts {
        if t.len() > MAX_TAG_BYTES {
            return Err("tag values are at most 1024 bytes".into());
        }
    }
    if e.track_number.flatten().is_some_and(|n| n == 0 || n > 9999) || e.disc_number.flatten().is_some_and(|n| n == 0 || n > 999) {
        return Err("track numbers are 1-9999 and disc numbers 1-999".into());
    }
    if e.year.flatten().is_some_and(|y| !(0..=9999).contains(&y)) {
        return Err("year must be between 0 and 9999".into());
    }
    Ok(())
}

/// An edited text value as stored: control characters dropped, trimmed; empty is none.
pub fn clean_text(v: &str) -> Option<String> {
    let v: String = v.chars().filter(|c| !c.is_control()).collect();
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_string())
}

/// Applies a tag edit to a track's tags: a new artist replaces the list of artists; the
/// album artist "Various Artists" marks a compilation.
pub fn apply_edit(tags: &mut Tags, e: &TagEdit) {
    if let Some(t) = &e.title {
        tags.title = clean_text(t);
    }
    if let Some(a) = &e.artist {
        tags.artist = clean_text(a);
        tags.artists = tags.artist.iter().cloned().collect();
    }
    if let Some(a) = &e.album {
        tags.album = clean_text(a);
    }
    if let Some(a) = &e.album_artist {
        tags.album_artist = a.as_deref().and_then(clean_text);
        if tags.album_artist.as_deref() == Some(VARIOUS) {
            tags.compilation = true;
        }
    }
    if let Some(n) = e.track_number {
        tags.track_number = n;
    }
    if let Some(n) = e.disc_number {
        tags.disc_number = n;
    }
    if let Some(y) = e.year {
        tags.year = y;
    }
    if let Some(g) = &e.genre {
        tags.genre = g.as_deref().and_then(clean_text);
    }
    if let Some(c) = e.compilation {
        tags.compilation = c;
    }
}

/// ReplayGain 2.0's reference level: a tagged gain of G dB says the audio measures
/// −18 − G LUFS (and the gain that brings it to −18 LUFS is G).
pub const RG_REFERENCE_LUFS: f64 = -18.0;

/// A track's loudness as the library states it: ReplayGain tags when the file has them
/// (the owner's choice), else the EBU R128 measurement; the album's likewise (its tag, else
/// the album's measured power mean).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TrackLoudness {
    pub track_lufs: Option<f64>,
    pub track_peak: Option<f64>,
    pub album_lufs: Option<f64>,
    pub album_peak: Option<f64>,
}

pub fn loudness(t: &Track) -> TrackLoudness {
    let rg = &t.tags.replaygain;
    let from_gain = |g: Option<f64>| g.filter(|g| g.is_finite()).map(|g| RG_REFERENCE_LUFS - g);
    let peak = |p: Option<f64>| p.filter(|p| p.is_finite() && *p >= 0.0);
    let (m, a) = (t.audio.loudness, t.audio.album_loudness);
    let track_lufs = from_gain(rg.track_gain).or(m.map(|l| l.lufs));
    let album_lufs = from_gain(rg.album_gain).or(a.map(|l| l.lufs));
    TrackLoudness { track_lufs, track_peak: peak(rg.track_peak).or(m.map(|l| l.peak)), album_lufs, album_peak: peak(rg.album_peak).or(a.map(|l| l.peak)) }
}

/// Which loudness a normalised stream is brought to the reference by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Normalize {
    #[default]
    Off,
    Track,
    Album,
}

impl Normalize {
    pub fn parse(s: &str) -> Option<Normalize> {
        match s {
            "off" | "none" => Some(Normalize::Off),
            "track" => Some(Normalize::Track),
            "album" => Some(Normalize::Album),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Normalize::Off => "off",
            Normalize::Track => "track",
            Normalize::Album => "album",
        }
    }
}

/// The gain, in dB, that brings a track to [`RG_REFERENCE_LUFS`] by its track or album
/// loudness (album falls back to track when the album's is not known), never past a true
/// peak of full scale, within −24…+12 dB; `None` when off or nothing is known.
pub fn normalisation_gain(l: &TrackLoudness, mode: Normalize) -> Option<f64> {
    let (lufs, peak) = match mode {
        Normalize::Off => return None,
        Normalize::Album if l.album_lufs.is_some() => (l.album_lufs?, l.album_peak.or(l.track_peak)),
        _ => (l.track_lufs?, l.track_peak),
    };
    let mut gain = RG_REFERENCE_LUFS - lufs;
    if let Some(p) = peak.filter(|p| *p > 0.0) {
        gain = gain.min(-20.0 * p.log10());
    }
    Some(gain.clamp(-24.0, 12.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(artist: &str, album: &str, album_artist: Option<&str>) -> Tags {
        Tags { artist: Some(artist.into()), album: Some(album.into()), album_artist: album_artist.map(Into::into), ..Tags::default() }
    }

    fn head(artist: &str, explicit: bool) -> AlbumHead {
        AlbumHead { explicit, artist: artist.into() }
    }

    fn folder_album(artist: &str, explicit: bool, artist_count: u64) -> Option<FolderAlbum> {
        Some(FolderAlbum { id: AlbumId(1), head: head(artist, explicit), artist_count })
    }

    #[test]
    fn sort_keys_fold_and_skip_a_leading_article() {
        assert_eq!(sort_key("The Beatles"), "beatles");
        assert_eq!(sort_key("An Horse"), "horse");
        assert_eq!(sort_key("A Tribe Called Quest"), "tribe called quest");
        assert_eq!(sort_key("Björk"), "bjork");
        assert_eq!(sort_key("The"), "the", "an article alone stays");
        assert_eq!(sort_key("Theatre"), "theatre");
        assert_eq!(artist_key("  SIGUR  Rós"), "sigur ros");
    }

    #[test]
    fn titles_and_artists_fall_back_in_order() {
        assert_eq!(title_from_file("03 - Jóga.flac"), "03 - Jóga");
        assert_eq!(title_from_file(" plain .wav"), "plain");
        assert_eq!(title_from_file("   .mp3"), "   .mp3", "a blank stem keeps the whole name");
        let untagged = Tags::default();
        assert_eq!(track_title(&untagged, "x.flac"), "x");
        assert_eq!(track_title(&Tags { title: Some("Hunter".into()), ..Tags::default() }, "x.flac"), "Hunter");
        assert_eq!(display_artist(&untagged), UNKNOWN_ARTIST);
        assert_eq!(artist_names(&untagged, UNKNOWN_ARTIST), [UNKNOWN_ARTIST]);
        let listed = Tags { artists: vec!["A".into(), "B".into()], ..Tags::default() };
        assert_eq!(display_artist(&listed), "A");
        assert_eq!(artist_names(&listed, "A"), ["A", "B"]);
        let feat = Tags { artist: Some("A feat. B".into()), artists: vec!["A".into(), "B".into()], ..Tags::default() };
        assert_eq!((display_artist(&feat).as_str(), artist_names(&feat, "A feat. B")), ("A feat. B", vec!["A".to_string(), "B".into()]));
    }

    #[test]
    fn plans_group_by_album_artist_else_folder_else_track_artist() {
        let tagged = plan_album(&tags("Björk", "Homogenic", Some("Björk")), Some("/m/Homogenic"), "Björk");
        assert_eq!(tagged.key, "a\u{1f}bjork\u{1f}homogenic");
        assert!(tagged.explicit);
        assert_eq!(tagged.folder, Some(FolderLink::Absorb { key: "d\u{1f}/m/Homogenic\u{1f}homogenic".into() }));
        // The same album artist in another folder or without one: the same key.
        assert_eq!(plan_album(&tags("Björk", "HOMOGENIC", Some("björk")), Some("/m/Disc 2"), "Björk").key, tagged.key);
        assert_eq!(plan_album(&tags("Björk", "Homogenic", Some("Björk")), None, "Björk").folder, None);

        let untagged = plan_album(&tags("Björk", "Homogenic", None), Some("/m/Homogenic"), "Björk");
        assert_eq!(untagged.key, "d\u{1f}/m/Homogenic\u{1f}homogenic");
        assert_eq!((untagged.artist.as_str(), untagged.explicit), ("Björk", false));
        assert_eq!(untagged.folder, Some(FolderLink::Join { key: tagged.key.clone(), folder: "/m/Homogenic".into() }));
        // Another artist in the same folder: the same folder album (a compilation to be).
        assert_eq!(plan_album(&tags("Sjón", "Homogenic", None), Some("/m/Homogenic"), "Sjón").key, untagged.key);

        let upload = plan_album(&tags("Björk", "Homogenic", None), None, "Björk");
        assert_eq!((upload.key.as_str(), upload.folder.as_ref()), ("t\u{1f}bjork\u{1f}homogenic", None));
        assert_ne!(plan_album(&tags("Sjón", "Homogenic", None), None, "Sjón").key, upload.key);

        let comp = plan_album(&Tags { compilation: true, album: Some("Mix".into()), ..Tags::default() }, None, UNKNOWN_ARTIST);
        assert_eq!((comp.key.as_str(), comp.artist.as_str(), comp.explicit), ("a\u{1f}various artists\u{1f}mix", VARIOUS, true));
        assert_eq!(plan_album(&Tags::default(), None, UNKNOWN_ARTIST).title, UNKNOWN_ALBUM);
    }

    #[test]
    fn folder_keys_and_paths_give_back_the_folder() {
        let p = plan_album(&tags("X", "T", None), Some("/m/a\u{1f}b"), "X");
        assert_eq!(folder_of_key(&p.key).as_deref(), Some("/m/a\u{1f}b"));
        assert_eq!(folder_of_key("a\u{1f}x\u{1f}t"), None);
        assert_eq!(folder_of_key("t\u{1f}x\u{1f}t"), None);
        assert_eq!(folder_of_path("/m/Björk - Homogenic/01 Hunter.flac").as_deref(), Some("/m/Björk - Homogenic"));
        assert_eq!(folder_of_path("01.flac").as_deref(), Some(""));
    }

    #[test]
    fn a_file_without_album_artist_joins_its_folders_album_by_its_artist() {
        let wav = plan_album(&tags("Björk", "Homogenic", None), Some("/m/H"), "Björk");
        // The tagged album holds a file from this folder: join it.
        let found = AlbumsFound { keyed: Some(AlbumId(1)), tagged: Some(AlbumId(2)), untagged: None };
        assert_eq!(choose_album(&wav, &found), AlbumChoice { album: Some(AlbumId(2)), absorb: None });
        // Otherwise the folder's album, or a new one.
        assert_eq!(choose_album(&wav, &AlbumsFound { keyed: Some(AlbumId(1)), ..AlbumsFound::default() }).album, Some(AlbumId(1)));
        assert_eq!(choose_album(&wav, &AlbumsFound::default()).album, None);

        let flac = plan_album(&tags("Björk", "Homogenic", Some("Björk")), Some("/m/H"), "Björk");
        // The folder's files without the tag, all by this album artist: taken in.
        let found = AlbumsFound { keyed: Some(AlbumId(2)), tagged: None, untagged: folder_album("björk", false, 1) };
        assert_eq!(choose_album(&flac, &found), AlbumChoice { album: Some(AlbumId(2)), absorb: Some(AlbumId(1)) });
        let found = AlbumsFound { keyed: None, tagged: None, untagged: folder_album("Björk", false, 1) };
        assert_eq!(choose_album(&flac, &found), AlbumChoice { album: None, absorb: Some(AlbumId(1)) });
        // By another artist, or by several (a compilation of the folder): left alone.
        for other in [folder_album("Sjón", false, 1), folder_album(VARIOUS, false, 2), folder_album("Björk", false, 2), folder_album("Björk", true, 1)] {
            let found = AlbumsFound { keyed: Some(AlbumId(2)), tagged: None, untagged: other.clone() };
            assert_eq!(choose_album(&flac, &found), AlbumChoice { album: Some(AlbumId(2)), absorb: None }, "{other:?}");
        }
        // Without a folder nothing links.
        let upload = plan_album(&tags("Björk", "Homogenic", None), None, "Björk");
        assert_eq!(choose_album(&upload, &AlbumsFound { keyed: Some(AlbumId(3)), tagged: Some(AlbumId(2)), untagged: None }).album, Some(AlbumId(3)));
    }

    #[test]
    fn only_an_untagged_album_of_several_artists_becomes_various() {
        assert!(becomes_various(&head("Sigur Rós", false), 2));
        assert!(!becomes_various(&head("Sigur Rós", false), 1));
        assert!(!becomes_various(&head("Björk", true), 3), "the tags named it");
        assert!(!becomes_various(&head(VARIOUS, false), 3), "already");
        assert!(may_become_various(&head("Sigur Rós", false)));
        assert!(!may_become_various(&head("Björk", true)) && !may_become_various(&head(VARIOUS, false)), "not worth counting");
    }

    #[test]
    fn blob_references_are_parts_and_cover_and_the_last_frees() {
        let (a, b, c, d) = (ContentHash([1; 32]), ContentHash([2; 32]), ContentHash([3; 32]), ContentHash([4; 32]));
        let parts = [Part { hash: a, len: 10 }, Part { hash: b, len: 990 }];
        assert!(parts_add_up(&parts, 1000));
        assert!(!parts_add_up(&parts, 1001));
        assert_eq!(track_refs(&parts, Some(c)), [a, b, c]);
        assert_eq!(track_refs(&parts, None), [a, b]);
        // b is shared with another track; d is not in the catalog.
        let mut counts = HashMap::from([(a, 1), (b, 2), (c, 1)]);
        assert_eq!(release(&mut counts, &[a, b, c, d]), [a, c]);
        assert_eq!(counts, HashMap::from([(b, 1)]));
        assert_eq!(release(&mut counts, &[b]), [b]);
        assert!(counts.is_empty());
        // Two references from one release (a file whose parts repeat a blob).
        let mut counts = HashMap::from([(a, 2)]);
        assert_eq!(release(&mut counts, &[a, a]), [a]);
        // A count already at zero (a blob awaiting its sweep) frees once.
        let mut counts = HashMap::from([(a, 0)]);
        assert_eq!(release(&mut counts, &[a, a]), [a]);
    }

    #[test]
    fn edits_are_validated_with_the_api_messages() {
        let ok = |e: TagEdit| validate_edit(&e);
        assert_eq!(ok(TagEdit::default()), Ok(()));
        let long = "x".repeat(1025);
        let at_most = Err("tag values are at most 1024 bytes".to_string());
        assert_eq!(ok(TagEdit { title: Some("x".repeat(1024)), ..TagEdit::default() }), Ok(()));
        assert_eq!(ok(TagEdit { title: Some(long.clone()), ..TagEdit::default() }), at_most);
        assert_eq!(ok(TagEdit { artist: Some(long.clone()), ..TagEdit::default() }), at_most);
        assert_eq!(ok(TagEdit { album: Some(long.clone()), ..TagEdit::default() }), at_most);
        assert_eq!(ok(TagEdit { album_artist: Some(Some(long.clone())), ..TagEdit::default() }), at_most);
        assert_eq!(ok(TagEdit { genre: Some(Some(long)), ..TagEdit::default() }), at_most);
        assert_eq!(ok(TagEdit { title: Some("é".repeat(513)), ..TagEdit::default() }), at_most, "bytes, not characters");
        let numbers = Err("track numbers are 1-9999 and disc numbers 1-999".to_string());
        for (t, d) in [(Some(0), None), (Some(10000), None), (None, Some(0)), (None, Some(1000))] {
            assert_eq!(ok(TagEdit { track_number: Some(t), disc_number: Some(d), ..TagEdit::default() }), numbers, "{t:?} {d:?}");
        }
        assert_eq!(ok(TagEdit { track_number: Some(Some(9999)), disc_number: Some(Some(999)), ..TagEdit::default() }), Ok(()));
        assert_eq!(ok(TagEdit { track_number: Some(None), disc_number: Some(None), year: Some(None), ..TagEdit::default() }), Ok(()), "clearing");
        let year = Err("year must be between 0 and 9999".to_string());
        assert_eq!(ok(TagEdit { year: Some(Some(-1)), ..TagEdit::default() }), year);
        assert_eq!(ok(TagEdit { year: Some(Some(10000)), ..TagEdit::default() }), year);
        assert_eq!(ok(TagEdit { year: Some(Some(0)), ..TagEdit::default() }), Ok(()));
        assert_eq!(ok(TagEdit { year: Some(Some(9999)), ..TagEdit::default() }), Ok(()));
    }

    #[test]
    fn edits_apply_cleaned_values_and_leave_the_rest() {
        let mut t = Tags {
            title: Some("One".into()),
            artist: Some("A".into()),
            artists: vec!["A".into(), "B".into()],
            genre: Some("Pop".into()),
            year: Some(1990),
            track_number: Some(3),
            ..Tags::default()
        };
        apply_edit(&mut t, &TagEdit::default());
        assert_eq!((t.title.as_deref(), t.artists.len(), t.year), (Some("One"), 2, Some(1990)));
        apply_edit(
            &mut t,
            &TagEdit { title: Some("  Two\u{0}\n ".into()), artist: Some(" C ".into()), genre: Some(None), year: Some(None), ..TagEdit::default() },
        );
        assert_eq!((t.title.as_deref(), t.artist.as_deref(), t.artists.clone()), (Some("Two"), Some("C"), vec!["C".to_string()]));
        assert_eq!((t.genre.as_deref(), t.year, t.track_number), (None, None, Some(3)));
        apply_edit(&mut t, &TagEdit { title: Some(" \t ".into()), artist: Some("".into()), ..TagEdit::default() });
        assert_eq!((t.title.as_deref(), t.artist.as_deref(), t.artists.len()), (None, None, 0), "blank clears");
        apply_edit(&mut t, &TagEdit { album_artist: Some(Some(VARIOUS.into())), ..TagEdit::default() });
        assert!(t.compilation, "Various Artists marks a compilation");
        apply_edit(&mut t, &TagEdit { album_artist: Some(Some("  ".into())), compilation: Some(false), ..TagEdit::default() });
        assert_eq!((t.album_artist.as_deref(), t.compilation), (None, false));
        assert_eq!(clean_text("a\u{7}b"), Some("ab".into()));
    }
}
