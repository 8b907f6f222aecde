//! Composition root: builds the concrete store, catalog, coordination and the services from
//! the config, runs the chores (orphan sweep and expired uploads at start and hourly, the
//! background verifier), and hands the services to the HTTP server until SIGINT/SIGTERM. The only
//! module that names concrete implementations (`LocalStore` / `S3Store`, the SQLite or
//! PostgreSQL catalog, `coord::Local` / `coord::postgres::Postgres`).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::cache::{StreamSettings, Streamer};
use crate::catalog::{self, Catalog};
use crate::config::Config;
use crate::coord::{self, Coordination};
use crate::encode::Codec;
use crate::ingest::Ingest;
use crate::ingest::resumable::{DiskUploads, SharedUploads, UploadState};
use crate::package::Rung;
use crate::server;
use crate::service::playback::PlaybackParts;
use crate::service::throttle::Limits;
use crate::service::uploads::UploadParts;
use crate::service::{Accounts, Lan, Library, Playback, Services, Uploads};
use crate::signing::UrlSigner;
use crate::store::{BlobStore, LocalStore};

/// Unreferenced blobs younger than this are left alone by the sweep: an import running
/// beside the server (or an upload on another node) may be between its store commit and
/// its catalog commit.
const ORPHAN_MIN_AGE: std::time::Duration = std::time::Duration::from_secs(600);

/// How often the sweeps of unreferenced blobs and expired uploads run after the first.
const HOUSEKEEPING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

/// How often the background verification looks for newly stored files.
const VERIFY_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// How long in-flight requests may run on after a shutdown signal.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

pub struct App {
    pub config: Config,
    pub store: Arc<dyn BlobStore>,
    pub catalog: Arc<dyn Catalog>,
    pub ingest: Arc<Ingest>,
    pub streamer: Arc<Streamer>,
    /// Resumable uploads in progress, kept across restarts: in `data/tus/`, or in the
    /// catalog and the store when the catalog is shared.
    pub resumable: Arc<dyn UploadState>,
    pub coord: Arc<dyn Coordination>,
    pub services: Services,
}

/// The object store `url` (`s3://bucket[/prefix]`) names, with the endpoint, region,
/// credentials and cache of `config`'s `[store]`; `None` when `url` names none.
pub fn s3_settings(config: &Config, url: &str) -> Option<crate::store::S3Settings> {
    let (bucket, prefix) = crate::store::S3Settings::from_url(url)?;
    let s = &config.store;
    Some(crate::store::S3Settings {
        bucket,
        prefix,
        endpoint: s.endpoint.clone(),
        region: s.region.clone(),
        access_key_id: s.access_key_id.clone(),
        secret_access_key: s.secret_access_key.clone(),
        allow_http: s.allow_http,
        cache_dir: config.data_dir.join("cache/originals"),
        cache_bytes: s.cache_bytes,
    })
}

impl App {
    /// Opens (creating on first use) the data directory: `blobs/`, `tonearm.db`, `cache/`.
    pub fn open(config: Config) -> anyhow::Result<App> {
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir).with_context(|| format!("creating data directory {}", dir.display()))?;
        std::fs::create_dir_all(dir.join("cache/covers")).context("creating cover cache")?;
        let store: Arc<dyn BlobStore> = match s3_settings(&config, &config.store.url) {
            Some(s) => Arc::new(crate::store::S3Store::open(s).context("opening the object store")?),
            None => Arc::new(LocalStore::open(dir.join("blobs")).context("opening blob store")?),
        };
        let shared = !config.catalog.url.is_empty();
        let catalog: Arc<dyn Catalog> = match shared {
            true => Arc::new(catalog::open_postgres(&config.catalog.url).context("opening the PostgreSQL catalog")?),
            false => Arc::new(catalog::open_sqlite(dir.join("tonearm.db")).context("opening catalog")?),
        };
        let coord: Arc<dyn Coordination> = match shared {
            true => Arc::new(coord::postgres::Postgres::open(&config.catalog.url).context("opening the coordination tables")?),
            false => Arc::new(coord::Local::default()),
        };
        let ingest = Arc::new(Ingest::new(store.clone(), catalog.clone(), coord.clone(), config.import.max_file_bytes, config.covers.max_bytes));
        // A key from its configured file; else, on a shared catalog, the one kept there for
        // every node; else a file in the data dir.
        let server_key = |configured: &str, file: &str, name: &str| -> anyhow::Result<[u8; 32]> {
            if !configured.is_empty() {
                return Ok(crate::signing::key_file(std::path::Path::new(configured))?);
            }
            if shared {
                let mut fresh = [0u8; 32];
                rand::fill(&mut fresh);
                return catalog.server_key(name, &fresh).with_context(|| format!("reading the {name} key from the catalog"));
            }
            Ok(crate::signing::key_file(&dir.join(file))?)
        };
        let signer = Arc::new(UrlSigner::new(server_key(&config.auth.signing_key_file, "secret.key", "signing")?));
        let streamer = Streamer::new(
            store.clone(),
            StreamSettings {
                cache_bytes: config.stream.cache_bytes,
                threads: config.stream_threads(),
                max_jobs: config.stream.max_jobs,
                prefetch: config.stream.prefetch,
            },
        )
        .context("starting the transcoder pool")?;
        let ladder: Arc<[Rung]> = config.ladder.iter().filter_map(|r| Some(Rung { codec: Codec::parse(&r.codec)?, bitrate: r.kbps * 1000 })).collect();
        let resumable: Arc<dyn UploadState> = match shared {
            true => Arc::new(SharedUploads::new(catalog.clone(), store.clone(), dir.join("uploads"))),
            false => Arc::new(DiskUploads::open(dir.join("tus")).context("opening resumable uploads")?),
        };
        let limits = Limits {
            per_user: config.auth.max_failed_logins_per_user,
            per_address: config.auth.max_failed_logins_per_address,
            window_secs: config.auth.lockout_secs as i64,
        };
        let sealer = match config.subsonic.token_auth {
            true => {
                if shared && config.subsonic.key_file.is_empty() {
                    tracing::warn!("the Subsonic sealing key is kept in the catalog beside the passwords it seals; set subsonic.key_file to keep it apart");
                }
                Some(Arc::new(crate::signing::Sealer::new(server_key(&config.subsonic.key_file, "subsonic.key", "subsonic")?)))
            }
            false => None,
        };
        let accounts = Accounts::new(catalog.clone(), ingest.clone(), coord.clone(), limits, config.auth.token_ttl_hours, sealer);
        let library = Library::new(catalog.clone(), store.clone(), ingest.clone(), coord.clone(), dir.join("cache/covers"), config.covers.max_size);
        let playback = Playback::new(PlaybackParts {
            catalog: catalog.clone(),
            store: store.clone(),
            accounts: accounts.clone(),
            coord: coord.clone(),
            streamer: streamer.clone(),
            signer,
            ladder,
            url_ttl_secs: config.stream.url_ttl_secs,
        });
        let uploads = Uploads::new(UploadParts {
            catalog: catalog.clone(),
            store: store.clone(),
            ingest: ingest.clone(),
            coord: coord.clone(),
            resumable: resumable.clone(),
            scratch_dir: dir.join("uploads"),
            max_bytes: config.import.max_file_bytes,
            limits: config.uploads.clone(),
        });
        let lan = Lan::new(accounts.clone(), library.clone(), playback.clone());
        let services = Services { accounts, library, playback, uploads, lan };
        Ok(App { config, store, catalog, ingest, streamer, resumable, coord, services })
    }

    /// Binds the configured address (port 0 picks one).
    pub async fn bind(&self) -> anyhow::Result<TcpListener> {
        TcpListener::bind(&self.config.bind).await.with_context(|| format!("binding {}", self.config.bind))
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    /// Borrows the app: its last handles (a PostgreSQL pool among them) must be dropped
    /// by the caller outside the runtime, whose threads may not block.
    pub async fn serve(&self, listener: TcpListener, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let addr: SocketAddr = listener.local_addr()?;
        let http = &self.config.http;
        let tls = match http.tls_cert_file.is_empty() {
            true => None,
            false => Some(
                server::listen::tls_config(std::path::Path::new(&http.tls_cert_file), std::path::Path::new(&http.tls_key_file))
                    .context("loading the TLS certificate")?,
            ),
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!(%addr, data_dir = %self.config.data_dir.display(), "tonearm listening on {scheme}://{addr}");
        let catalog = self.catalog.clone();
        let users = tokio::task::spawn_blocking(move || catalog.user_count()).await??;
        if users == 0 {
            tracing::warn!("no users yet: create the first admin with `tonearm --data-dir {} user add <name> --admin`", self.config.data_dir.display());
        }
        // The sweeps, now and then every HOUSEKEEPING_INTERVAL, each by one node at a time.
        let chores = Chores { ingest: self.ingest.clone(), coord: self.coord.clone(), resumable: self.resumable.clone() };
        let first = chores.clone();
        tokio::task::spawn_blocking(move || first.sweep()).await?;
        let spawned = std::thread::Builder::new().name("housekeeping".into()).spawn(move || {
            loop {
                std::thread::sleep(HOUSEKEEPING_INTERVAL);
                chores.sweep();
            }
        });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start the housekeeping thread");
        }
        // Full decodes of stored files, in the background, after the transcoder's work; in
        // a cluster, one node at a time.
        let (store, catalog, streamer, coord) = (self.store.clone(), self.catalog.clone(), self.streamer.clone(), self.coord.clone());
        let verifier = std::thread::Builder::new().name("verify".into()).stack_size(crate::media::PARSER_STACK).spawn(move || {
            loop {
                if let Some(_alone) = coord.try_lock("verify") {
                    let n = crate::ingest::verify::run_pass(&store, catalog.as_ref(), &|| streamer.busy());
                    if n > 0 {
                        tracing::info!(files = n, "verified stored files in full");
                    }
                    let n = crate::ingest::verify::run_lyrics_pass(&store, catalog.as_ref(), &|| streamer.busy());
                    if n > 0 {
                        tracing::info!(files = n, "read the lyrics of files stored before lyrics were kept");
                    }
                    let n = crate::ingest::verify::run_loudness_pass(&store, catalog.as_ref(), &|| streamer.busy());
                    if n > 0 {
                        tracing::info!(files = n, "measured the loudness of stored files");
                    }
                }
                std::thread::sleep(VERIFY_INTERVAL);
            }
        });
        if let Err(e) = verifier {
            tracing::warn!(error = %e, "could not start the verification thread");
        }
        // One-request uploads in progress when the server last stopped cannot resume: clear them.
        let uploads = self.config.data_dir.join("uploads");
        let _ = std::fs::remove_dir_all(&uploads);
        std::fs::create_dir_all(&uploads).with_context(|| format!("creating {}", uploads.display()))?;
        // After the signal, in-flight requests get SHUTDOWN_GRACE to finish; a listener
        // holding a long progressive stream must not keep the process alive.
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
        let limits = server::listen::Limits {
            workers: self.config.http.workers,
            max_connections: self.config.http.max_connections,
            header_timeout: std::time::Duration::from_secs(self.config.http.header_timeout_secs),
            tls,
        };
        // UPnP/DLNA: the HTTP routes, and SSDP on its own thread.
        let upnp = self.config.upnp.enabled.then(|| server::upnp::Settings { friendly_name: self.config.upnp.friendly_name.clone() });
        let ssdp = match upnp.is_some() {
            true => Some(
                server::upnp::ssdp::Ssdp::start(self.services.lan.clone(), addr, self.config.upnp.ssdp_port)
                    .with_context(|| format!("starting SSDP on UDP port {}", self.config.upnp.ssdp_port))?,
            ),
            false => None,
        };
        let serve = server::serve(self.services.clone(), upnp, listener, limits, async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        let deadline = async move {
            let _ = stop_rx.wait_for(|stopped| *stopped).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        tokio::select! {
            r = serve => {
                r.context("serving HTTP")?;
                tracing::info!("shut down cleanly");
            }
            _ = deadline => tracing::warn!("requests still running after {} s; stopping anyway", SHUTDOWN_GRACE.as_secs()),
        }
        if let Some(s) = ssdp {
            // Says byebye to the network; joins a thread that wakes every half second.
            tokio::task::spawn_blocking(move || s.stop()).await?;
        }
        Ok(())
    }
}

/// The periodic sweeps: what a crash or an abandoned upload leaves behind.
#[derive(Clone)]
struct Chores {
    ingest: Arc<Ingest>,
    coord: Arc<dyn Coordination>,
    resumable: Arc<dyn UploadState>,
}

impl Chores {
    /// Removes blobs nobody references (a crash between a catalog commit and the file's
    /// removal) and expired resumable uploads, each under a lock of its own: on a shared
    /// catalog another node that is sweeping is left to it. Blocks.
    fn sweep(&self) {
        match self.coord.try_lock("orphan-sweep").map(|_alone| self.ingest.sweep_orphans(ORPHAN_MIN_AGE)) {
            None => tracing::info!("another node is sweeping unreferenced blobs"),
            Some(Ok((0, _))) => {}
            Some(Ok((n, bytes))) => tracing::info!(blobs = n, bytes, "removed unreferenced blobs"),
            Some(Err(e)) => tracing::warn!(error = %e, "orphan sweep failed"),
        }
        match self.coord.try_lock("upload-sweep").map(|_alone| self.resumable.sweep()) {
            Some(Ok(0)) | None => {}
            Some(Ok(n)) => tracing::info!(uploads = n, "removed expired resumable uploads"),
            Some(Err(e)) => tracing::warn!(error = %e, "sweeping expired resumable uploads failed"),
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received");
}
