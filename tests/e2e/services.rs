//! The services in-process, without HTTP: the composition root (`App::open`) on a
//! temporary data directory (a real SQLite catalog file and a real blob store), called the
//! way any adapter calls them. What the CLI and every protocol share is tested here once.

use std::path::Path;

use bytes::Bytes;
use sha2::Digest;
use tonearm::app::App;
use tonearm::catalog::{TagEdit, User, UserChange};
use tonearm::config::Config;
use tonearm::service::accounts::{AccountError, Actor, Credential};
use tonearm::service::library::LibraryError;
use tonearm::service::playback::{Format, PlaybackError, Progressive};
use tonearm::service::uploads::UploadError;

use crate::common::testdata;

fn app(dir: &Path) -> App {
    let mut config = Config { data_dir: dir.to_path_buf(), ..Config::default() };
    if crate::common::on_postgres() {
        config.catalog.url = crate::common::scratch_database();
        for (k, v) in crate::common::scratch_bucket() {
            match k {
                "TONEARM_STORE__URL" => config.store.url = v,
                "TONEARM_STORE__ENDPOINT" => config.store.endpoint = v,
                "TONEARM_STORE__REGION" => config.store.region = v,
                "TONEARM_STORE__ACCESS_KEY_ID" => config.store.access_key_id = v,
                "TONEARM_STORE__SECRET_ACCESS_KEY" => config.store.secret_access_key = v,
                _ => config.store.allow_http = true,
            }
        }
    }
    config.auth.max_failed_logins_per_user = 2;
    App::open(config).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn password<'a>(username: &'a str, password: &'a str) -> Credential<'a> {
    Credential::Password { username, password }
}

/// A body as the HTTP adapter hands it over: a stream of chunks.
fn body(bytes: Vec<u8>) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + Unpin {
    futures_util::stream::iter(bytes.chunks(64 * 1024).map(|c| Ok(Bytes::copy_from_slice(c))).collect::<Vec<_>>())
}

#[test]
fn accounts_keep_their_rules_for_every_caller() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let a = &app.services.accounts;
    assert!(a.first_run().unwrap());
    let root = a.create_user(Actor::Operator, "root", "root password", false).unwrap();
    assert!(root.is_admin, "the first user is an administrator");
    let bob = a.create_user(Actor::Operator, "bob", "bob password", false).unwrap();
    assert!(!bob.is_admin && !a.first_run().unwrap());
    assert!(matches!(a.create_user(Actor::Operator, " bob", "bob password", false), Err(AccountError::BadUsername)));
    assert!(matches!(a.create_user(Actor::Operator, "carol", "short", false), Err(AccountError::WeakPassword)));

    // The only enabled administrator can be neither deleted nor disabled, by id or by name.
    assert!(matches!(a.delete_user(Actor::Operator, root.id), Err(AccountError::LastAdmin("deleted"))));
    assert!(matches!(a.delete_user_named(Actor::Operator, "root"), Err(AccountError::LastAdmin("deleted"))));
    assert!(matches!(
        a.update_user(Actor::Operator, root.id, UserChange { disabled: Some(true), ..Default::default() }),
        Err(AccountError::LastAdmin("disabled"))
    ));
    let demote = UserChange { is_admin: Some(false), ..Default::default() };
    assert!(matches!(a.update_user(Actor::Operator, root.id, demote), Err(AccountError::LastAdmin("made a regular user"))));
    assert!(matches!(a.delete_user(Actor::Operator, tonearm::domain::UserId(9999)), Err(AccountError::NoSuchUser)));
    // Administrators' operations refuse anyone else, whichever protocol asks.
    assert!(matches!(a.list_users(Actor::User(&bob)), Err(AccountError::NotAdmin)));
    assert!(matches!(a.create_user(Actor::User(&bob), "eve", "eve password", true), Err(AccountError::NotAdmin)));
    assert!(matches!(a.delete_user(Actor::User(&bob), root.id), Err(AccountError::NotAdmin)));
    assert!(matches!(app.services.library.storage(Actor::User(&bob)), Err(tonearm::service::library::LibraryError::Account(AccountError::NotAdmin))));
    assert!(a.list_users(Actor::User(&root)).is_ok());

    // Sessions: a password change ends them at once, cached or not.
    let issued = a.login(password("bob", "bob password"), None).unwrap();
    assert_eq!(a.authenticate(&issued.token).unwrap().map(|u| u.id), Some(bob.id));
    assert!(a.recently_authenticated(&issued.token).is_some());
    a.reset_password(Actor::Operator, bob.id, "new bob password").unwrap();
    assert!(a.recently_authenticated(&issued.token).is_none(), "the cache forgot the session");
    assert!(a.authenticate(&issued.token).unwrap().is_none());

    // Throttling: two failures lock the name, even for the right password.
    let addr = Some("192.0.2.7".parse().unwrap());
    for _ in 0..2 {
        assert!(matches!(a.login(password("bob", "wrong"), addr), Err(AccountError::BadCredentials)));
    }
    assert!(matches!(a.login(password("bob", "new bob password"), addr), Err(AccountError::Throttled(s)) if s > 0));
    // A disabled account learns so only with its password; it is not throttled by it.
    let carol = a.create_user(Actor::Operator, "carol", "carol password", false).unwrap();
    a.update_user(Actor::Operator, carol.id, UserChange { disabled: Some(true), ..Default::default() }).unwrap();
    assert!(matches!(a.login(password("carol", "carol password"), None), Err(AccountError::Disabled)));
    assert!(matches!(a.login(password("carol", "wrong"), None), Err(AccountError::BadCredentials)));

    // With a second administrator, the first may go.
    let admin2 = a.create_user(Actor::Operator, "admin2", "admin2 password", true).unwrap();
    assert!(admin2.is_admin);
    a.delete_user(Actor::Operator, root.id).unwrap();
    assert_eq!(a.list_users(Actor::Operator).unwrap().iter().map(|u| u.username.as_str()).collect::<Vec<_>>(), ["admin2", "bob", "carol"]);
}

/// `user` uploads `path` through the uploads service.
fn upload(app: &App, rt: &tokio::runtime::Runtime, user: &User, path: &Path) -> tonearm::service::uploads::Added {
    let name = path.file_name().unwrap().to_str().unwrap().to_string();
    rt.block_on(app.services.uploads.upload(user, Some(&name), body(std::fs::read(path).unwrap()))).unwrap()
}

#[test]
fn library_rules_and_the_caches_they_invalidate() {
    let dir = tempfile::tempdir().unwrap();
    let (app, rt) = (app(dir.path()), runtime());
    let alice = app.services.accounts.create_user(Actor::Operator, "alice", "alice password", false).unwrap();
    let bob = app.services.accounts.create_user(Actor::Operator, "bob", "bob password", false).unwrap();
    let t = upload(&app, &rt, &alice, &testdata("library/Björk - Homogenic/01 Hunter.flac")).track;
    let lib = &app.services.library;
    assert!(matches!(lib.track(bob.id, t.id), Err(LibraryError::NotFound("track"))), "someone else's track is missing");

    // Tag edits are validated, apply to the owner's view, and reach playback at once.
    let long = TagEdit { title: Some("x".repeat(1025)), ..TagEdit::default() };
    assert!(matches!(lib.edit_track(alice.id, t.id, &long), Err(LibraryError::BadTag(_))));
    let zero = TagEdit { track_number: Some(Some(0)), ..TagEdit::default() };
    assert!(matches!(lib.edit_track(alice.id, t.id, &zero), Err(LibraryError::BadTag(_))));
    let p = &app.services.playback;
    assert_eq!(rt.block_on(p.track(alice.id, t.id)).unwrap().track.tags.title, t.tags.title);
    let renamed = lib.edit_track(alice.id, t.id, &TagEdit { title: Some("Hunter (live)".into()), ..TagEdit::default() }).unwrap();
    assert_eq!(renamed.tags.title, "Hunter (live)");
    assert_eq!(rt.block_on(p.track(alice.id, t.id)).unwrap().track.tags.title, "Hunter (live)", "the playback cache forgot the old tags");

    // Playlists: names and lengths are bounded; someone else's track is not found.
    assert!(matches!(lib.create_playlist(alice.id, "  ", &[]), Err(LibraryError::BadPlaylistName)));
    let too_many = vec![t.id; tonearm::service::library::MAX_PLAYLIST_TRACKS + 1];
    assert!(matches!(lib.create_playlist(alice.id, "Long", &too_many), Err(LibraryError::PlaylistTooLong(_))));
    let pl = lib.create_playlist(alice.id, " Mix ", &[t.id, t.id]).unwrap();
    assert_eq!(pl.name, "Mix");
    assert!(lib.append_to_playlist(bob.id, pl.id, &[]).is_err());
    let (_, page) = lib.playlist(alice.id, pl.id, 1, Some(5)).unwrap();
    assert_eq!(page.len(), 1);
    assert!(matches!(lib.scrobble(alice.id, t.id, Some(i64::MAX / 2)), Err(LibraryError::BadTime)));
    lib.scrobble(alice.id, t.id, None).unwrap();
    assert_eq!(lib.history(alice.id, Some(10)).unwrap().0.len(), 1);
    assert!(matches!(lib.search(alice.id, &"q".repeat(513), None), Err(LibraryError::SearchTooLong)));
    assert_eq!(lib.search(alice.id, "hunter LIVE", None).unwrap().tracks.len(), 1);

    // Playback policy, whoever asks.
    let play = rt.block_on(p.track(alice.id, t.id)).unwrap();
    let bad = rt.block_on(p.progressive(play.clone(), Format::parse("mp3").unwrap(), Some(8), 0.0));
    assert!(matches!(bad, Err(PlaybackError::BadBitrate { min: 32, max: 320, .. })));
    assert!(matches!(rt.block_on(p.progressive(play.clone(), Format::Original, None, 1e9)), Err(PlaybackError::BadOffset(_))));
    assert!(matches!(rt.block_on(p.progressive(play.clone(), Format::Original, None, 0.0)), Ok(Progressive::Original)));
    assert!(matches!(Format::parse("wma"), Err(PlaybackError::BadFormat(_))));

    // Deleting forgets the playable track too.
    lib.delete_track(alice.id, t.id).unwrap();
    assert!(matches!(rt.block_on(p.track(alice.id, t.id)), Err(PlaybackError::NoSuchTrack)));
    assert!(matches!(lib.track(alice.id, t.id), Err(LibraryError::NotFound("track"))));
}

#[test]
fn instant_uploads_prove_possession_once() {
    let dir = tempfile::tempdir().unwrap();
    let (app, rt) = (app(dir.path()), runtime());
    let alice = app.services.accounts.create_user(Actor::Operator, "alice", "alice password", false).unwrap();
    let bob = app.services.accounts.create_user(Actor::Operator, "bob", "bob password", false).unwrap();
    let path = testdata("library/Misc/plain.wav");
    let bytes = std::fs::read(&path).unwrap();
    let added = upload(&app, &rt, &alice, &path);
    assert!(added.created);
    assert!(!upload(&app, &rt, &alice, &path).created, "the same bytes again are already present");

    let up = &app.services.uploads;
    let sha = hex(&sha2::Sha256::digest(&bytes));
    let proofs =
        |ranges: &[(u64, u64)]| -> Vec<String> { ranges.iter().map(|&(o, l)| hex(&sha2::Sha256::digest(&bytes[o as usize..(o + l) as usize]))).collect() };
    // A wrong proof fails, and the challenge is spent.
    let c = up.ask(&bob, &sha, bytes.len() as u64, "mine.wav").unwrap();
    assert!(matches!(up.prove(&bob, &c.id, &["00".repeat(32)]), Err(UploadError::ProofFailed)));
    assert!(matches!(up.prove(&bob, &c.id, &proofs(&c.ranges)), Err(UploadError::NoSuchChallenge)));
    // Someone else's challenge is as good as missing.
    let c = up.ask(&bob, &sha, bytes.len() as u64, "mine.wav").unwrap();
    assert!(matches!(up.prove(&alice, &c.id, &proofs(&c.ranges)), Err(UploadError::NoSuchChallenge)));
    let c = up.ask(&bob, &sha, bytes.len() as u64, "mine.wav").unwrap();
    let got = up.prove(&bob, &c.id, &proofs(&c.ranges)).unwrap();
    assert!(got.created);
    assert_eq!(got.track.file.file_name, "mine.wav");
    assert_ne!(got.track.id, added.track.id, "bob has his own track of the same stored file");
    // A file nobody stores cannot be proven, and bad requests are precise.
    let c = up.ask(&bob, &"ab".repeat(32), 1000, "x.flac").unwrap();
    assert!(matches!(up.prove(&bob, &c.id, &proofs(&[])), Err(UploadError::ProofFailed)));
    assert!(matches!(up.ask(&bob, "abc", 1000, "x.flac"), Err(UploadError::BadHash)));
    assert!(matches!(up.ask(&bob, &sha, 0, "x.flac"), Err(UploadError::BadSize)));
    assert!(matches!(up.ask(&bob, &sha, 10, "../"), Err(UploadError::BadFilename(_))));
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Files stored before lyrics were kept (migration 10 marks them unread) get their lyrics
/// from the background pass, once; files that have none are marked read all the same.
#[test]
fn lyrics_of_files_stored_before_are_read_once_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let user = app.services.accounts.create_user(Actor::Operator, "root", "root password", false).unwrap();
    let opts = tonearm::ingest::ImportOptions { threads: 1, batch_size: 16, progress: false };
    tonearm::ingest::import(&app.ingest, user.id, &[testdata("library/Björk - Homogenic")], &opts).unwrap();
    let joga = app.catalog.search(user.id, "joga", 1).unwrap().tracks[0].id;
    assert_eq!(app.catalog.lyrics(user.id, joga).unwrap().unwrap().len(), 1, "read at import");
    assert!(app.catalog.lyrics_unread(10).unwrap().is_empty());
    // As an older version left them: no lyrics rows, nothing read.
    let db = rusqlite::Connection::open(dir.path().join("tonearm.db")).unwrap();
    db.execute_batch("DELETE FROM lyrics; UPDATE media SET lyrics_read = 0; UPDATE tracks SET isrc = NULL;").unwrap();
    assert!(app.catalog.track(user.id, joga).unwrap().unwrap().tags.isrc.is_empty());
    assert_eq!(app.catalog.lyrics(user.id, joga).unwrap().unwrap().len(), 0);
    assert_eq!(tonearm::ingest::verify::run_lyrics_pass(&app.store, app.catalog.as_ref(), &|| false), 2);
    let l = app.catalog.lyrics(user.id, joga).unwrap().unwrap();
    assert!(l[0].text.starts_with("[ar:Björk]"), "{l:?}");
    assert_eq!(app.catalog.track(user.id, joga).unwrap().unwrap().tags.isrc, ["GBAAA9700002"], "and the ISRC");
    assert_eq!(tonearm::ingest::verify::run_lyrics_pass(&app.store, app.catalog.as_ref(), &|| false), 0, "once");
}

/// The sealed copy token auth checks follows the password hash: a new password forgets the
/// old copy in its own transaction, and a copy made for an old hash is never kept (a
/// sign-in racing a password change cannot bring the old password back).
#[test]
fn the_sealed_password_follows_the_hash() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let a = &app.services.accounts;
    let u = a.create_user(Actor::Operator, "root", "root password", false).unwrap();
    let sealed = app.catalog.subsonic_secret("root").unwrap().map(|(_, s)| s);
    assert!(sealed.is_some(), "made with the account");
    let (_, old_hash) = app.catalog.user_by_name("root").unwrap().unwrap();
    a.set_password(Actor::Operator, "root", "new root password").unwrap();
    let (_, new_hash) = app.catalog.user_by_name("root").unwrap().unwrap();
    // A late write for the old hash is refused by the catalog.
    app.catalog.set_subsonic_secret(u.id, sealed.as_deref().unwrap(), &old_hash).unwrap();
    assert_ne!(app.catalog.subsonic_secret("root").unwrap().map(|(_, s)| s), sealed);
    assert!(a.check(password("root", "root password"), None).is_err(), "the old password is gone for p=");
    assert!(a.check(password("root", "new root password"), None).is_ok());
    assert_ne!(old_hash, new_hash);
}

/// The signing and sealing keys can live outside the data dir (nodes share them), and are
/// made there once.
#[test]
fn keys_live_where_the_config_says() {
    let (dir, keys) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut config = Config { data_dir: dir.path().to_path_buf(), ..Config::default() };
    config.auth.signing_key_file = keys.path().join("signing.key").display().to_string();
    config.subsonic.key_file = keys.path().join("subsonic.key").display().to_string();
    let first = App::open(config.clone()).unwrap();
    drop(first);
    let made = std::fs::read(keys.path().join("signing.key")).unwrap();
    assert_eq!(made.len(), 32);
    assert_eq!(std::fs::read(keys.path().join("subsonic.key")).unwrap().len(), 32);
    assert!(!dir.path().join("secret.key").exists() && !dir.path().join("subsonic.key").exists());
    App::open(config).unwrap();
    assert_eq!(std::fs::read(keys.path().join("signing.key")).unwrap(), made, "kept, not made again");
}
