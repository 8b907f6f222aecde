//! The protocol-neutral middle: the locker's rules, once, for every protocol. Each service
//! is a cheap-to-clone handle with its own error enum; adapters (the JSON API, the CLI,
//! Subsonic, later UPnP) parse their wire format, call a service, and map the answer
//! and the error to their wire.
//!
//! - [`accounts`]: users, passwords, sessions, sign-in throttling, administrators.
//! - [`library`]: a user's tracks, albums, artists, search, edits, deletes, playlists,
//!   favourites, history, covers.
//! - [`playback`]: playable tracks, grants, the ladder, segments, progressive streams,
//!   originals.
//! - [`uploads`]: one-request, resumable and instant uploads as one state machine.
//! - [`devices`]: what a device plays and how a track reaches it (direct or transcoded).
//! - [`lan`]: the library as devices on the local network browse it (UPnP/DLNA), and
//!   whose library they see.
//!
//! Depends on the catalog repositories, `store`, `ingest`, `cache`, `package`, `signing`
//! and `coord` (the process-local state they share, behind one trait). Must not depend on
//! `server`, axum, hyper or status codes.

pub mod accounts;
pub mod devices;
pub mod lan;
pub mod library;
pub mod playback;
pub mod throttle;
pub mod uploads;

pub use accounts::Accounts;
pub use lan::Lan;
pub use library::Library;
pub use playback::Playback;
pub use uploads::Uploads;

/// Every service, as the composition root builds them.
#[derive(Clone)]
pub struct Services {
    pub accounts: Accounts,
    pub library: Library,
    pub playback: Playback,
    pub uploads: Uploads,
    pub lan: Lan,
}
