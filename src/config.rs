//! Configuration: one typed struct, built from defaults, then an optional TOML file, then
//! `TONEARM_…` environment variables (nested keys with `__`, e.g. `TONEARM_AUTH__TOKEN_TTL_HOURS`),
//! then command-line flags. No file is needed to start. `config/tonearm.toml` documents every
//! key with its default, and a test keeps it equal to [`Config::default`].
//!
//! Reads files and the environment, nothing else; knows no other module.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Where blobs, the catalog and caches live.
    pub data_dir: PathBuf,
    /// Address the HTTP server binds; port 0 picks a free port.
    pub bind: String,
    /// Default log filter when `RUST_LOG` is unset.
    pub log: String,
    pub http: HttpConfig,
    pub auth: AuthConfig,
    pub import: ImportConfig,
    pub covers: CoverConfig,
    pub stream: StreamConfig,
    pub uploads: UploadConfig,
    pub subsonic: SubsonicConfig,
    pub catalog: CatalogConfig,
    pub store: StoreConfig,
    pub upnp: UpnpConfig,
    /// The HLS bitrate ladder, in the order the master playlist lists it.
    pub ladder: Vec<LadderRung>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    /// Threads serving connections; 0 means one per core.
    pub workers: usize,
    /// Open connections at most; the next one waits in the kernel's backlog.
    pub max_connections: usize,
    /// Seconds a connection may take to send a request head, and may stay idle between
    /// requests, before it is closed.
    pub header_timeout_secs: u64,
    /// PEM certificate chain for HTTPS (with `tls_key_file`); empty serves plain HTTP.
    pub tls_cert_file: String,
    /// PEM private key of that certificate.
    pub tls_key_file: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamConfig {
    /// Byte budget of the in-memory hot-segment cache.
    pub cache_bytes: u64,
    /// Transcoding threads; 0 means one per core.
    pub threads: usize,
    /// Transcode jobs (queued or running) before new cold work gets 429; 0 means 64 per thread.
    pub max_jobs: usize,
    /// Segments prepared ahead after one is served.
    pub prefetch: u32,
    /// Lifetime of signed playback URLs, in seconds.
    pub url_ttl_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UploadConfig {
    /// Uploads one user may be sending at the same moment (requests with a body in flight);
    /// more get 429 `too_many_uploads`.
    pub max_concurrent_per_user: usize,
    /// Unfinished resumable uploads one user may hold.
    pub max_unfinished_per_user: usize,
    /// Hours an unfinished resumable upload is kept (tus expiration).
    pub expiry_hours: u64,
}

/// One rendition of the ladder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LadderRung {
    /// `aac` (AAC-LC) or `opus`.
    pub codec: String,
    /// Kilobits per second.
    pub kbps: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CatalogConfig {
    /// Where the catalog lives. Empty: `tonearm.db` (SQLite) in the data dir.
    /// `postgres://user:password@host:port/database`: that PostgreSQL database, which
    /// several nodes can share; the signing and Subsonic keys are then kept in it too
    /// (unless `auth.signing_key_file` / `subsonic.key_file` name files).
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoreConfig {
    /// Where the originals and covers are kept. Empty: `blobs/` in the data dir.
    /// `s3://bucket[/prefix]`: that bucket of an S3-compatible object store.
    pub url: String,
    /// The object store's address (`http://127.0.0.1:9000`); empty: AWS S3 itself.
    pub endpoint: String,
    /// Its region; empty: `AWS_DEFAULT_REGION`/`AWS_REGION`, else `us-east-1`.
    pub region: String,
    /// Credentials; empty: the usual AWS variables (`AWS_ACCESS_KEY_ID`, …).
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Allows a plain-http endpoint (a store on the same host or network).
    pub allow_http: bool,
    /// Most bytes of recently played originals kept on local disk
    /// (`cache/originals/` in the data dir), so their next cold segments read locally.
    pub cache_bytes: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: String::new(),
            endpoint: String::new(),
            region: String::new(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            allow_http: false,
            cache_bytes: 2 << 30,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpnpConfig {
    /// Serve the libraries users share with the local network (`tonearm user upnp NAME on`)
    /// as UPnP/DLNA media servers, discovered by SSDP.
    pub enabled: bool,
    /// The UDP port SSDP listens and announces on (1900 is the standard).
    pub ssdp_port: u16,
    /// The name devices list, before the user's: `Tonearm (alice)`.
    pub friendly_name: String,
}

impl Default for UpnpConfig {
    fn default() -> Self {
        UpnpConfig { enabled: false, ssdp_port: 1900, friendly_name: "Tonearm".into() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SubsonicConfig {
    /// Subsonic token auth (`t` = md5(password + salt)): keeps a copy of each password,
    /// encrypted with a server key (`data/subsonic.key`), made when a password is set or a
    /// sign-in succeeds. Off: only `p=` and API keys sign in over the Subsonic API.
    pub token_auth: bool,
    /// The key the password copies are sealed with (created mode 0600 if absent). Empty:
    /// `subsonic.key` in the data dir, or kept in a PostgreSQL catalog. Several nodes must
    /// share one.
    pub key_file: String,
}

impl Default for SubsonicConfig {
    fn default() -> Self {
        SubsonicConfig { token_auth: true, key_file: String::new() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// Lifetime of a login token.
    pub token_ttl_hours: u64,
    /// Failed sign-ins for one username within `lockout_secs` before it is locked out.
    pub max_failed_logins_per_user: u32,
    /// Failed sign-ins from one address within `lockout_secs` before it is locked out.
    pub max_failed_logins_per_address: u32,
    /// The counting window and lockout length, in seconds.
    pub lockout_secs: u64,
    /// The key signed playback URLs are made with (32 random bytes, created mode 0600 if
    /// absent). Empty: `secret.key` in the data dir, or kept in a PostgreSQL catalog.
    /// Several nodes must share one.
    pub signing_key_file: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImportConfig {
    /// Worker threads for probing and hashing; 0 means one per core.
    pub threads: usize,
    /// Files larger than this are rejected (bytes).
    pub max_file_bytes: u64,
    /// Files per catalog transaction (and per durable sync of the blob store).
    pub batch_size: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CoverConfig {
    /// Embedded or side-car images larger than this are ignored (bytes).
    pub max_bytes: u64,
    /// Largest edge, in pixels, that `?size=` may ask for.
    pub max_size: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./data"),
            bind: "127.0.0.1:4747".into(),
            log: "info".into(),
            http: HttpConfig::default(),
            auth: AuthConfig::default(),
            import: ImportConfig::default(),
            covers: CoverConfig::default(),
            stream: StreamConfig::default(),
            uploads: UploadConfig::default(),
            subsonic: SubsonicConfig::default(),
            catalog: CatalogConfig::default(),
            store: StoreConfig::default(),
            upnp: UpnpConfig::default(),
            ladder: vec![
                LadderRung { codec: "aac".into(), kbps: 96 },
                LadderRung { codec: "aac".into(), kbps: 192 },
                LadderRung { codec: "opus".into(), kbps: 64 },
                LadderRung { codec: "opus".into(), kbps: 128 },
            ],
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig { workers: 0, max_connections: 4096, header_timeout_secs: 30, tls_cert_file: String::new(), tls_key_file: String::new() }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            token_ttl_hours: 24 * 30,
            max_failed_logins_per_user: 5,
            max_failed_logins_per_address: 20,
            lockout_secs: 300,
            signing_key_file: String::new(),
        }
    }
}

impl Default for ImportConfig {
    fn default() -> Self {
        ImportConfig { threads: 0, max_file_bytes: 2 << 30, batch_size: 256 }
    }
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig { cache_bytes: 256 << 20, threads: 0, max_jobs: 0, prefetch: 3, url_ttl_secs: 24 * 3600 }
    }
}

impl Default for UploadConfig {
    fn default() -> Self {
        UploadConfig { max_concurrent_per_user: 4, max_unfinished_per_user: 50, expiry_hours: 24 }
    }
}

impl Default for CoverConfig {
    fn default() -> Self {
        CoverConfig { max_bytes: 32 << 20, max_size: 1200 }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist")]
    Missing(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(#[from] Box<figment::Error>),
    #[error("invalid configuration: {0}")]
    Value(String),
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub bind: Option<String>,
}

impl Config {
    /// Defaults ← `file` (if any) ← `TONEARM_*` ← `overrides`.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(f) = file {
            if !f.exists() {
                return Err(ConfigError::Missing(f.to_path_buf()));
            }
            fig = fig.merge(Toml::file(f));
        }
        fig = fig.merge(Env::prefixed("TONEARM_").ignore(&["config"]).split("__"));
        let mut cfg: Config = fig.extract().map_err(Box::new)?;
        if let Some(d) = &overrides.data_dir {
            cfg.data_dir = d.clone();
        }
        if let Some(b) = &overrides.bind {
            cfg.bind = b.clone();
        }
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let url = self.catalog.url.as_str();
        if !(url.is_empty() || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(ConfigError::Value("catalog.url must be empty (SQLite in the data dir) or postgres://user:password@host:port/database".into()));
        }
        if !self.store.url.is_empty() && crate::store::S3Settings::from_url(&self.store.url).is_none() {
            return Err(ConfigError::Value("store.url must be empty (blobs in the data dir) or s3://bucket[/prefix]".into()));
        }
        if self.import.batch_size == 0 {
            return Err(ConfigError::Value("import.batch_size must be at least 1".into()));
        }
        if self.http.max_connections == 0 || self.http.header_timeout_secs == 0 {
            return Err(ConfigError::Value("http.max_connections and http.header_timeout_secs must be at least 1".into()));
        }
        if self.http.tls_cert_file.is_empty() != self.http.tls_key_file.is_empty() {
            return Err(ConfigError::Value("http.tls_cert_file and http.tls_key_file go together: set both for HTTPS, or neither".into()));
        }
        if self.upnp.friendly_name.trim().is_empty() || self.upnp.friendly_name.chars().any(char::is_control) {
            return Err(ConfigError::Value("upnp.friendly_name must be a name without control characters".into()));
        }
        if self.covers.max_size < 16 {
            return Err(ConfigError::Value("covers.max_size must be at least 16".into()));
        }
        if !self.ladder.iter().any(|r| r.codec == "aac") {
            return Err(ConfigError::Value("the ladder needs an AAC-LC rung: Apple's HLS players do not play Opus".into()));
        }
        for r in &self.ladder {
            let ok = match r.codec.as_str() {
                "aac" => (16..=320).contains(&r.kbps),
                "opus" => (6..=510).contains(&r.kbps),
                _ => false,
            };
            if !ok {
                return Err(ConfigError::Value(format!("ladder rung {} {} kbps: codec must be aac (16-320 kbps) or opus (6-510 kbps)", r.codec, r.kbps)));
            }
        }
        Ok(())
    }

    /// Transcoding threads after resolving `0` to the core count.
    pub fn stream_threads(&self) -> usize {
        match self.stream.threads {
            0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            n => n,
        }
    }

    /// Number of import workers after resolving `0` to the core count.
    pub fn import_threads(&self) -> usize {
        match self.import.threads {
            0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            n => n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_file_equals_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/tonearm.toml");
        let from_file: Config = Figment::from(Serialized::defaults(Config::default())).merge(Toml::file(&path)).extract().unwrap();
        assert_eq!(from_file, Config::default());
        // Every key of the struct appears in the documented file.
        let text = std::fs::read_to_string(&path).unwrap();
        let table: toml_like::Table = toml_like::parse(&text);
        let defaults = serde_json::to_value(Config::default()).unwrap();
        for (k, v) in defaults.as_object().unwrap() {
            if let Some(first) = v.as_array().and_then(|a| a.first()).and_then(|f| f.as_object()) {
                for k2 in first.keys() {
                    assert!(table.contains(&format!("{k}.{k2}")), "{k}.{k2} undocumented");
                }
                continue;
            }
            match v.as_object() {
                Some(inner) => {
                    for k2 in inner.keys() {
                        assert!(table.contains(&format!("{k}.{k2}")), "{k}.{k2} undocumented");
                    }
                }
                None => assert!(table.contains(k), "{k} undocumented"),
            }
        }
    }

    /// Just enough TOML key listing to check documentation coverage.
    mod toml_like {
        pub struct Table(Vec<String>);
        impl Table {
            pub fn contains(&self, key: &str) -> bool {
                self.0.iter().any(|k| k == key)
            }
        }
        pub fn parse(text: &str) -> Table {
            let mut section = String::new();
            let mut keys = Vec::new();
            for line in text.lines().map(str::trim) {
                if line.starts_with('#') || line.is_empty() {
                    continue;
                }
                if let Some(s) = line.strip_prefix('[') {
                    section = s.trim_start_matches('[').trim_end_matches(']').to_string();
                } else if let Some((k, _)) = line.split_once('=') {
                    let k = k.trim();
                    keys.push(if section.is_empty() { k.to_string() } else { format!("{section}.{k}") });
                }
            }
            Table(keys)
        }
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail error type, in a test
    fn env_and_flags_override() {
        // Figment's Jail isolates the environment for the closure.
        figment::Jail::expect_with(|jail| {
            jail.set_env("TONEARM_BIND", "127.0.0.1:0");
            jail.set_env("TONEARM_AUTH__TOKEN_TTL_HOURS", "5");
            let cfg = Config::load(None, &Overrides::default()).unwrap();
            assert_eq!(cfg.bind, "127.0.0.1:0");
            assert_eq!(cfg.auth.token_ttl_hours, 5);
            let cfg = Config::load(None, &Overrides { bind: Some("0.0.0.0:1".into()), data_dir: None }).unwrap();
            assert_eq!(cfg.bind, "0.0.0.0:1");
            Ok(())
        });
    }
}
