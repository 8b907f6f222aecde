//! Versioned schema migrations per engine, applied in order inside one transaction each:
//! SQLite's ([`MIGRATIONS`], the version in `PRAGMA user_version`) and PostgreSQL's
//! ([`POSTGRES_MIGRATIONS`], the version in `schema_version`). Append new migrations to
//! both; never edit old ones. Owns DDL only.

pub const MIGRATIONS: &[&str] = &[
    // 1: users, sessions, blobs, media, covers, library, search.
    r#"
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    is_admin INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_user ON sessions(user_id);

-- Every stored blob, with the number of catalog rows that refer to it.
CREATE TABLE blobs (
    hash BLOB PRIMARY KEY,
    size INTEGER NOT NULL,
    refs INTEGER NOT NULL CHECK (refs >= 0),
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Audio properties, one row per stored audio blob (shared by every user who owns it).
CREATE TABLE media (
    hash BLOB PRIMARY KEY REFERENCES blobs(hash),
    container TEXT NOT NULL,
    codec TEXT NOT NULL,
    sample_rate INTEGER NOT NULL,
    channels INTEGER NOT NULL,
    bits_per_sample INTEGER,
    frames INTEGER NOT NULL,
    priming INTEGER NOT NULL,
    duration_counted INTEGER NOT NULL,
    bitrate INTEGER NOT NULL,
    damage TEXT
) WITHOUT ROWID;

CREATE TABLE covers (
    hash BLOB PRIMARY KEY REFERENCES blobs(hash),
    mime TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE artists (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    key TEXT NOT NULL,
    sort_key TEXT NOT NULL,
    UNIQUE (user_id, key)
);

CREATE TABLE albums (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    group_key TEXT NOT NULL,
    title TEXT NOT NULL,
    artist TEXT NOT NULL,
    artist_id INTEGER NOT NULL REFERENCES artists(id),
    explicit_artist INTEGER NOT NULL,
    sort_title TEXT NOT NULL,
    sort_artist TEXT NOT NULL,
    year INTEGER,
    genre TEXT,
    compilation INTEGER NOT NULL,
    cover_hash BLOB REFERENCES covers(hash),
    track_count INTEGER NOT NULL DEFAULT 0,
    duration REAL NOT NULL DEFAULT 0,
    added_at INTEGER NOT NULL,
    UNIQUE (user_id, group_key)
);
CREATE INDEX albums_by_artist ON albums(user_id, sort_artist, year, sort_title);
CREATE INDEX albums_by_title ON albums(user_id, sort_title);
CREATE INDEX albums_by_year ON albums(user_id, year, sort_title);
CREATE INDEX albums_by_added ON albums(user_id, added_at DESC, id DESC);
CREATE INDEX albums_artist ON albums(artist_id);

CREATE TABLE tracks (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    media_hash BLOB NOT NULL REFERENCES media(hash),
    album_id INTEGER NOT NULL REFERENCES albums(id),
    artist_id INTEGER NOT NULL REFERENCES artists(id),
    title TEXT NOT NULL,
    artist TEXT NOT NULL,
    artists TEXT NOT NULL,
    track_number INTEGER,
    track_total INTEGER,
    disc_number INTEGER,
    disc_total INTEGER,
    year INTEGER,
    genre TEXT,
    compilation INTEGER NOT NULL,
    rg_track_gain REAL, rg_track_peak REAL, rg_album_gain REAL, rg_album_peak REAL,
    mb_track_id TEXT, mb_album_id TEXT, mb_artist_id TEXT, mb_album_artist_id TEXT,
    cover_hash BLOB REFERENCES covers(hash),
    file_name TEXT NOT NULL,
    added_at INTEGER NOT NULL,
    UNIQUE (user_id, media_hash)
);
CREATE INDEX tracks_album ON tracks(album_id, disc_number, track_number, title);
CREATE INDEX tracks_user_title ON tracks(user_id, title COLLATE NOCASE, id);
CREATE INDEX tracks_media ON tracks(media_hash);

-- Files seen by `import`, so an unchanged file is skipped without being read again.
CREATE TABLE sources (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime INTEGER NOT NULL,
    track_id INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, path)
) WITHOUT ROWID;
CREATE INDEX sources_track ON sources(track_id);

CREATE TABLE track_artists (
    track_id INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    artist_id INTEGER NOT NULL REFERENCES artists(id),
    position INTEGER NOT NULL,
    PRIMARY KEY (track_id, artist_id)
) WITHOUT ROWID;
CREATE INDEX track_artists_artist ON track_artists(artist_id);

-- Bumped by every write to any library, so in-memory search indexes (per process) know
-- when to reload, even after an import by another process.
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('library_generation', 0);
"#,
    // 2: playlists, favourites and listening history (per user; gone with the user or track).
    r#"
CREATE TABLE playlists (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX playlists_user ON playlists(user_id);
CREATE TABLE playlist_tracks (
    playlist_id INTEGER NOT NULL REFERENCES playlists(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    track_id INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    PRIMARY KEY (playlist_id, position)
) WITHOUT ROWID;
CREATE INDEX playlist_tracks_track ON playlist_tracks(track_id);
CREATE TABLE favourites (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    track_id INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    starred_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, track_id)
) WITHOUT ROWID;
CREATE INDEX favourites_track ON favourites(track_id);
CREATE TABLE plays (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    track_id INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    played_at INTEGER NOT NULL
);
CREATE INDEX plays_user ON plays(user_id, played_at);
CREATE INDEX plays_track ON plays(track_id);
"#,
    // 3: disabled accounts and per-user storage quotas (NULL: no quota).
    r#"
ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN quota_bytes INTEGER;
"#,
    // 4: a file is stored as parts (head with tags, coded audio, tail): `parts` lists them
    // as `HEX:LEN,...`; blob refs count (track, part) pairs. `audio_hash` names the shared
    // coded audio (segment cache key); `sha256` of the whole file finds it for instant
    // uploads. Files stored before are one part: the blob named by the file's hash.
    r#"
CREATE TABLE media4 (
    hash BLOB PRIMARY KEY,
    container TEXT NOT NULL,
    codec TEXT NOT NULL,
    sample_rate INTEGER NOT NULL,
    channels INTEGER NOT NULL,
    bits_per_sample INTEGER,
    frames INTEGER NOT NULL,
    priming INTEGER NOT NULL,
    duration_counted INTEGER NOT NULL,
    bitrate INTEGER NOT NULL,
    damage TEXT,
    size INTEGER NOT NULL,
    sha256 BLOB,
    audio_hash BLOB NOT NULL,
    parts TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO media4 SELECT m.hash, m.container, m.codec, m.sample_rate, m.channels, m.bits_per_sample, m.frames,
    m.priming, m.duration_counted, m.bitrate, m.damage, COALESCE(b.size, 0), NULL, m.hash,
    lower(hex(m.hash)) || ':' || COALESCE(b.size, 0)
    FROM media m LEFT JOIN blobs b ON b.hash = m.hash;
DROP TABLE media;
ALTER TABLE media4 RENAME TO media;
CREATE INDEX media_sha256 ON media(sha256) WHERE sha256 IS NOT NULL;
"#,
    // 5: whether the whole file has been decoded once after import (damage the probe's
    // first packets did not show is flagged then).
    r#"
ALTER TABLE media ADD COLUMN verified INTEGER NOT NULL DEFAULT 0;
CREATE INDEX media_unverified ON media(hash) WHERE verified = 0;
"#,
    // 6: the folder each track was imported from (NULL for uploads), so that a file without
    // an album-artist tag meets its folder's tagged files of the same album (rules.rs
    // `plan_album`). Existing tracks get theirs from their album's folder key or the path
    // they were imported from (sqlite.rs `backfill_folders`, in the same transaction).
    r#"
ALTER TABLE tracks ADD COLUMN folder TEXT;
"#,
    // 7: what other protocols sign in with: the sealed copy of a user's password (Subsonic
    // token auth; NULL until the password is set or used again), and API keys, stored as
    // their BLAKE3 hash, named, revocable, gone with the user.
    r#"
ALTER TABLE users ADD COLUMN subsonic_secret BLOB;
CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key_hash BLOB NOT NULL UNIQUE,
    label TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER
);
CREATE INDEX api_keys_user ON api_keys(user_id);
"#,
    // 8: a user's rating of their track, 1 to 5 stars (no row: unrated).
    r#"
CREATE TABLE ratings (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    track_id INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    PRIMARY KEY (user_id, track_id)
) WITHOUT ROWID;
"#,
    // 9: each user's saved play queue (apps move playback between devices with it): the
    // track ids in order, the current one and the position in it.
    r#"
CREATE TABLE play_queues (
    user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    tracks TEXT NOT NULL,
    current_track INTEGER,
    position_ms INTEGER NOT NULL,
    changed_at INTEGER NOT NULL,
    changed_by TEXT NOT NULL
);
"#,
    // 10: the lyrics each stored file carries in its tags (plain or LRC text), read at
    // ingest, and each track's ISRCs; files stored before have `lyrics_read = 0` and are read once in the
    // background (`ingest::verify`). Stars and ratings of albums and artists. And each
    // user's library generation (a counter every write to their library moves, from one
    // sequence so a value is never reused) and when it last changed, in milliseconds, each
    // change later than the one before (`getIndexes`).
    r#"
CREATE TABLE lyrics (
    media_hash BLOB NOT NULL REFERENCES media(hash) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    lang TEXT,
    text TEXT NOT NULL,
    PRIMARY KEY (media_hash, position)
) WITHOUT ROWID;
ALTER TABLE media ADD COLUMN lyrics_read INTEGER NOT NULL DEFAULT 1;
-- ISRCs as tagged, a JSON list (NULL for files imported before: none known).
ALTER TABLE tracks ADD COLUMN isrc TEXT;
UPDATE media SET lyrics_read = 0;
CREATE INDEX media_lyrics_unread ON media(hash) WHERE lyrics_read = 0;
CREATE TABLE album_marks (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    album_id INTEGER NOT NULL REFERENCES albums(id) ON DELETE CASCADE,
    starred_at INTEGER,
    rating INTEGER CHECK (rating BETWEEN 1 AND 5),
    PRIMARY KEY (user_id, album_id)
) WITHOUT ROWID;
CREATE INDEX album_marks_album ON album_marks(album_id);
CREATE TABLE artist_marks (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    artist_id INTEGER NOT NULL REFERENCES artists(id) ON DELETE CASCADE,
    starred_at INTEGER,
    rating INTEGER CHECK (rating BETWEEN 1 AND 5),
    PRIMARY KEY (user_id, artist_id)
) WITHOUT ROWID;
CREATE INDEX artist_marks_artist ON artist_marks(artist_id);
CREATE TABLE library_changes (
    user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    generation INTEGER NOT NULL,
    changed_at_ms INTEGER NOT NULL
);
-- Every library counts as changed now: clients that cached an older index reload it once.
INSERT INTO library_changes (user_id, generation, changed_at_ms)
    SELECT id, (SELECT value FROM meta WHERE key = 'library_generation'), CAST(strftime('%s', 'now') AS INTEGER) * 1000 FROM users;
"#,
    // 11: shares: a public link (an unguessable token) to some of a user's tracks, until it
    // expires or is deleted; tracks deleted since drop out of it.
    r#"
CREATE TABLE shares (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    last_visited_at INTEGER,
    visits INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX shares_user ON shares(user_id);
CREATE TABLE share_tracks (
    share_id INTEGER NOT NULL REFERENCES shares(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    track_id INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    PRIMARY KEY (share_id, position)
) WITHOUT ROWID;
CREATE INDEX share_tracks_track ON share_tracks(track_id);
"#,
    // 12: bookmarks: where a user stopped in one of their tracks (audiobooks, long mixes).
    r#"
CREATE TABLE bookmarks (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    track_id INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    position_ms INTEGER NOT NULL,
    comment TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    changed_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, track_id)
) WITHOUT ROWID;
CREATE INDEX bookmarks_track ON bookmarks(track_id);
"#,
    // 13: keys every node of a cluster shares (signing, Subsonic sealing), made once.
    r#"
CREATE TABLE server_keys (name TEXT PRIMARY KEY, key BLOB NOT NULL) WITHOUT ROWID;
"#,
    // 14: resumable uploads kept in the catalog (on a shared catalog, so that any node can
    // take the next chunk); their bytes are objects in the store, one per chunk.
    r#"
CREATE TABLE resumable_uploads (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL,
    length INTEGER NOT NULL,
    file_name TEXT NOT NULL,
    metadata TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    received INTEGER NOT NULL DEFAULT 0,
    outcome TEXT
) WITHOUT ROWID;
CREATE INDEX resumable_uploads_user ON resumable_uploads(user_id);
CREATE INDEX resumable_uploads_expiry ON resumable_uploads(expires_at);
CREATE TABLE resumable_chunks (
    upload_id TEXT NOT NULL REFERENCES resumable_uploads(id) ON DELETE CASCADE,
    start INTEGER NOT NULL,
    len INTEGER NOT NULL,
    PRIMARY KEY (upload_id, start)
) WITHOUT ROWID;
"#,
    // 15: EBU R128 loudness per stored file, measured once in the background
    // (`ingest::verify`): integrated loudness (LUFS), true peak (linear), and the power
    // 10^(LUFS/10) album loudness is averaged from; `loudness_read = 0` until measured. And
    // each user's default loudness normalisation of what they play (`off`, `track`, `album`).
    r#"
ALTER TABLE media ADD COLUMN loudness_lufs REAL;
ALTER TABLE media ADD COLUMN loudness_peak REAL;
ALTER TABLE media ADD COLUMN loudness_power REAL;
ALTER TABLE media ADD COLUMN loudness_read INTEGER NOT NULL DEFAULT 0;
CREATE INDEX media_loudness_unread ON media(hash) WHERE loudness_read = 0;
ALTER TABLE users ADD COLUMN normalize TEXT NOT NULL DEFAULT 'off';
"#,
    // 16: whether the local network (UPnP/DLNA) sees the user's library (`tonearm user upnp`).
    r#"
ALTER TABLE users ADD COLUMN lan_shared INTEGER NOT NULL DEFAULT 0;
"#,
];

/// The migration after which `backfill_folders` fills `tracks.folder`.
pub const TRACK_FOLDERS: usize = 6;

/// PostgreSQL's migrations, applied by `postgres` in order, each in one transaction, the
/// applied version in `schema_version`. The first is SQLite's whole schema at migration 13
/// (a PostgreSQL catalog starts there; `tonearm migrate` copies older ones after they
/// have been upgraded); append new ones beside SQLite's. Integers are BIGINT (the shared
/// SQL binds 64-bit values), flags too (`= 0`/`= 1` in the shared SQL); `nocase` is a
/// case-insensitive ICU collation so the shared `COLLATE NOCASE` means the same thing.
pub const POSTGRES_MIGRATIONS: &[&str] = &[
    r#"
CREATE COLLATION nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false);

CREATE TABLE users (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    username TEXT COLLATE nocase NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    is_admin BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0,
    quota_bytes BIGINT,
    subsonic_secret BYTEA
);
CREATE TABLE sessions (
    token_hash BYTEA PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE TABLE blobs (
    hash BYTEA PRIMARY KEY,
    size BIGINT NOT NULL,
    refs BIGINT NOT NULL CHECK (refs >= 0),
    created_at BIGINT NOT NULL
);
CREATE TABLE covers (
    hash BYTEA PRIMARY KEY REFERENCES blobs(hash),
    mime TEXT NOT NULL,
    width BIGINT NOT NULL,
    height BIGINT NOT NULL
);
CREATE TABLE artists (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    key TEXT NOT NULL,
    sort_key TEXT COLLATE "C" NOT NULL,
    UNIQUE (user_id, key)
);
CREATE TABLE albums (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    group_key TEXT NOT NULL,
    title TEXT NOT NULL,
    artist TEXT NOT NULL,
    artist_id BIGINT NOT NULL REFERENCES artists(id),
    explicit_artist BIGINT NOT NULL,
    sort_title TEXT COLLATE "C" NOT NULL,
    sort_artist TEXT COLLATE "C" NOT NULL,
    year BIGINT,
    genre TEXT,
    compilation BIGINT NOT NULL,
    cover_hash BYTEA REFERENCES covers(hash),
    track_count BIGINT NOT NULL DEFAULT 0,
    duration DOUBLE PRECISION NOT NULL DEFAULT 0,
    added_at BIGINT NOT NULL,
    UNIQUE (user_id, group_key)
);
CREATE INDEX albums_by_artist ON albums(user_id, sort_artist, year, sort_title);
CREATE INDEX albums_by_title ON albums(user_id, sort_title);
CREATE INDEX albums_by_year ON albums(user_id, year, sort_title);
CREATE INDEX albums_by_added ON albums(user_id, added_at DESC, id DESC);
CREATE INDEX albums_artist ON albums(artist_id);
CREATE TABLE media (
    hash BYTEA PRIMARY KEY,
    container TEXT NOT NULL,
    codec TEXT NOT NULL,
    sample_rate BIGINT NOT NULL,
    channels BIGINT NOT NULL,
    bits_per_sample BIGINT,
    frames BIGINT NOT NULL,
    priming BIGINT NOT NULL,
    duration_counted BIGINT NOT NULL,
    bitrate BIGINT NOT NULL,
    damage TEXT,
    size BIGINT NOT NULL,
    sha256 BYTEA,
    audio_hash BYTEA NOT NULL,
    parts TEXT NOT NULL,
    verified BIGINT NOT NULL DEFAULT 0,
    lyrics_read BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX media_sha256 ON media(sha256) WHERE sha256 IS NOT NULL;
CREATE INDEX media_unverified ON media(hash) WHERE verified = 0;
CREATE INDEX media_lyrics_unread ON media(hash) WHERE lyrics_read = 0;
CREATE TABLE tracks (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    media_hash BYTEA NOT NULL REFERENCES media(hash),
    album_id BIGINT NOT NULL REFERENCES albums(id),
    artist_id BIGINT NOT NULL REFERENCES artists(id),
    title TEXT NOT NULL,
    artist TEXT NOT NULL,
    artists TEXT NOT NULL,
    track_number BIGINT,
    track_total BIGINT,
    disc_number BIGINT,
    disc_total BIGINT,
    year BIGINT,
    genre TEXT,
    compilation BIGINT NOT NULL,
    rg_track_gain DOUBLE PRECISION, rg_track_peak DOUBLE PRECISION, rg_album_gain DOUBLE PRECISION, rg_album_peak DOUBLE PRECISION,
    mb_track_id TEXT, mb_album_id TEXT, mb_artist_id TEXT, mb_album_artist_id TEXT,
    cover_hash BYTEA REFERENCES covers(hash),
    file_name TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    folder TEXT,
    isrc TEXT,
    UNIQUE (user_id, media_hash)
);
CREATE INDEX tracks_album ON tracks(album_id, disc_number, track_number, title);
CREATE INDEX tracks_user_title ON tracks(user_id, title COLLATE nocase, id);
CREATE INDEX tracks_media ON tracks(media_hash);
CREATE TABLE sources (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    size BIGINT NOT NULL,
    mtime BIGINT NOT NULL,
    track_id BIGINT NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, path)
);
CREATE INDEX sources_track ON sources(track_id);
CREATE TABLE track_artists (
    track_id BIGINT NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    artist_id BIGINT NOT NULL REFERENCES artists(id),
    position BIGINT NOT NULL,
    PRIMARY KEY (track_id, artist_id)
);
CREATE INDEX track_artists_artist ON track_artists(artist_id);
CREATE TABLE meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL);
INSERT INTO meta (key, value) VALUES ('library_generation', 0);
CREATE TABLE playlists (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX playlists_user ON playlists(user_id);
CREATE TABLE playlist_tracks (
    playlist_id BIGINT NOT NULL REFERENCES playlists(id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    track_id BIGINT NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    PRIMARY KEY (playlist_id, position)
);
CREATE INDEX playlist_tracks_track ON playlist_tracks(track_id);
CREATE TABLE favourites (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    track_id BIGINT NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    starred_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, track_id)
);
CREATE INDEX favourites_track ON favourites(track_id);
CREATE TABLE plays (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    track_id BIGINT NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    played_at BIGINT NOT NULL
);
CREATE INDEX plays_user ON plays(user_id, played_at);
CREATE INDEX plays_track ON plays(track_id);
CREATE TABLE api_keys (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key_hash BYTEA NOT NULL UNIQUE,
    label TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX api_keys_user ON api_keys(user_id);
CREATE TABLE ratings (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    track_id BIGINT NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    rating BIGINT NOT NULL CHECK (rating BETWEEN 1 AND 5),
    PRIMARY KEY (user_id, track_id)
);
CREATE TABLE play_queues (
    user_id BIGINT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    tracks TEXT NOT NULL,
    current_track BIGINT,
    position_ms BIGINT NOT NULL,
    changed_at BIGINT NOT NULL,
    changed_by TEXT NOT NULL
);
CREATE TABLE lyrics (
    media_hash BYTEA NOT NULL REFERENCES media(hash) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    lang TEXT,
    text TEXT NOT NULL,
    PRIMARY KEY (media_hash, position)
);
CREATE TABLE album_marks (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    album_id BIGINT NOT NULL REFERENCES albums(id) ON DELETE CASCADE,
    starred_at BIGINT,
    rating BIGINT CHECK (rating BETWEEN 1 AND 5),
    PRIMARY KEY (user_id, album_id)
);
CREATE INDEX album_marks_album ON album_marks(album_id);
CREATE TABLE artist_marks (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    artist_id BIGINT NOT NULL REFERENCES artists(id) ON DELETE CASCADE,
    starred_at BIGINT,
    rating BIGINT CHECK (rating BETWEEN 1 AND 5),
    PRIMARY KEY (user_id, artist_id)
);
CREATE INDEX artist_marks_artist ON artist_marks(artist_id);
CREATE TABLE library_changes (
    user_id BIGINT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    generation BIGINT NOT NULL,
    changed_at_ms BIGINT NOT NULL
);
CREATE TABLE shares (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    last_visited_at BIGINT,
    visits BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX shares_user ON shares(user_id);
CREATE TABLE share_tracks (
    share_id BIGINT NOT NULL REFERENCES shares(id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    track_id BIGINT NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    PRIMARY KEY (share_id, position)
);
CREATE INDEX share_tracks_track ON share_tracks(track_id);
CREATE TABLE bookmarks (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    track_id BIGINT NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    position_ms BIGINT NOT NULL,
    comment TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    changed_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, track_id)
);
CREATE INDEX bookmarks_track ON bookmarks(track_id);
CREATE TABLE server_keys (name TEXT PRIMARY KEY, key BYTEA NOT NULL);
"#,
    // 2 = SQLite's 14.
    r#"
CREATE TABLE resumable_uploads (
    id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    length BIGINT NOT NULL,
    file_name TEXT NOT NULL,
    metadata TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    received BIGINT NOT NULL DEFAULT 0,
    outcome TEXT
);
CREATE INDEX resumable_uploads_user ON resumable_uploads(user_id);
CREATE INDEX resumable_uploads_expiry ON resumable_uploads(expires_at);
CREATE TABLE resumable_chunks (
    upload_id TEXT NOT NULL REFERENCES resumable_uploads(id) ON DELETE CASCADE,
    start BIGINT NOT NULL,
    len BIGINT NOT NULL,
    PRIMARY KEY (upload_id, start)
);
"#,
    // 3 = SQLite's 15.
    r#"
ALTER TABLE media ADD COLUMN loudness_lufs DOUBLE PRECISION;
ALTER TABLE media ADD COLUMN loudness_peak DOUBLE PRECISION;
ALTER TABLE media ADD COLUMN loudness_power DOUBLE PRECISION;
ALTER TABLE media ADD COLUMN loudness_read BIGINT NOT NULL DEFAULT 0;
CREATE INDEX media_loudness_unread ON media(hash) WHERE loudness_read = 0;
ALTER TABLE users ADD COLUMN normalize TEXT NOT NULL DEFAULT 'off';
"#,
    // 4 = SQLite's 16.
    r#"
ALTER TABLE users ADD COLUMN lan_shared BIGINT NOT NULL DEFAULT 0;
"#,
];
