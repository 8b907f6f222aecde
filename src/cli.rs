//! The command line: `serve`, `import`, and `user add|list|delete|passwd`.
//! Parses arguments, loads the config, and calls the same services as the HTTP server
//! (`app.services`), or `ingest` for imports and checks.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use crate::app::{App, shutdown_signal};
use crate::config::{Config, Overrides};
use crate::ingest::{ImportOptions, import};
use crate::service::accounts::Actor;

/// `println!` that ignores a closed stdout (`tonearm import ... | head` must not panic).
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($t)*);
    }};
}

#[derive(Parser)]
#[command(name = "tonearm", version, about = "Personal music locker and adaptive audio streaming server")]
struct Cli {
    /// Config file (TOML); optional. Also TONEARM_CONFIG.
    #[arg(long, global = true, env = "TONEARM_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory [default: ./data]. Also TONEARM_DATA_DIR.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Address to bind [default: 127.0.0.1:4747]; port 0 picks a free port. Also TONEARM_BIND.
    #[arg(long, global = true)]
    bind: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve,
    /// Import music files or folders into a user's library.
    Import {
        /// Files or folders to import.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Whose library the files go into.
        #[arg(long)]
        user: String,
        /// Worker threads (default: config import.threads, 0 = one per core).
        #[arg(long)]
        threads: Option<usize>,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Check that every file the catalog refers to is in the blob store with its recorded
    /// size; list blobs nobody refers to. Exits non-zero when a reference dangles.
    Check {
        /// Also delete the unreferenced blobs (run it while no import or server writes).
        #[arg(long)]
        sweep: bool,
    },
    /// Copy this data dir's SQLite catalog into PostgreSQL and/or its blobs into an S3
    /// bucket, for a deployment of several nodes. Resumable (run it again after an
    /// interruption: what was copied is skipped); `tonearm check` with the new settings
    /// verifies the result. The object store's endpoint and credentials come from the
    /// `[store]` settings (TONEARM_STORE__ENDPOINT, …) or the AWS variables.
    Migrate {
        /// postgres://user:password@host:port/database
        #[arg(long)]
        to_catalog: Option<String>,
        /// s3://bucket[/prefix]
        #[arg(long)]
        to_store: Option<String>,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Transcode one file the way the server streams it (ADTS AAC, Ogg Opus or MP3), for
    /// checking the pipeline and for benchmarks. Touches no data directory.
    Transcode {
        input: PathBuf,
        /// aac, opus or mp3.
        #[arg(long, default_value = "opus")]
        format: String,
        /// Kilobits per second.
        #[arg(long, default_value_t = 128)]
        kbps: u32,
        /// Start this many seconds in.
        #[arg(long, default_value_t = 0.0)]
        offset: f64,
        /// Output file ("-" for standard output).
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        action: UserCmd,
    },
}

#[derive(Subcommand)]
enum UserCmd {
    /// Create a user (the first user is always an admin).
    Add {
        name: String,
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Delete a user and their library (shared files stay while others own them).
    Delete { name: String },
    /// Set a user's password (ends their sessions).
    Passwd {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Share NAME's library with UPnP/DLNA devices on the local network (`on`), or stop
    /// (`off`); the server must run with `[upnp] enabled`.
    Upnp {
        name: String,
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
    /// A user's API keys (for Subsonic apps' `apiKey` sign-in).
    #[command(subcommand, name = "api-key")]
    ApiKey(ApiKeyCmd),
}

#[derive(Subcommand)]
enum ApiKeyCmd {
    /// Make a key for NAME; prints the key alone on stdout (it is shown only this once).
    Add {
        name: String,
        /// What the key is for (an app, a device).
        #[arg(long, default_value = "cli")]
        label: String,
    },
    /// List NAME's keys: id, label, created, last used.
    List { name: String },
    /// Revoke key ID of NAME.
    Revoke { name: String, id: i64 },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let overrides = Overrides { data_dir: cli.data_dir.clone(), bind: cli.bind.clone() };
    let config = match Config::load(cli.config.as_deref(), &overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    crate::telemetry::init(&config.log);
    match run(cli.command, config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cmd: Command, config: Config) -> anyhow::Result<()> {
    match cmd {
        Command::Serve => {
            // Blocking threads parse uploads: the parsers' stack room as on the import pool.
            // Opened before the runtime starts: opening blocks (a PostgreSQL catalog connects
            // and migrates), which must not happen on an executor thread.
            let app = App::open(config)?;
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().thread_stack_size(crate::media::PARSER_STACK).build()?;
            let served = rt.block_on(async {
                let listener = app.bind().await?;
                app.serve(listener, shutdown_signal()).await
            });
            // The runtime first, then the app (dropping a PostgreSQL client blocks).
            drop(rt);
            drop(app);
            served
        }
        Command::Import { paths, user, threads, quiet } => run_import(config, paths, &user, threads, quiet),
        Command::User { action } => run_user(config, action),
        Command::Check { sweep } => run_check(config, sweep),
        Command::Migrate { to_catalog, to_store, quiet } => run_migrate(config, to_catalog, to_store, quiet),
        Command::Transcode { input, format, kbps, offset, output } => run_transcode(&input, &format, kbps, offset, &output),
    }
}

fn run_check(config: Config, sweep: bool) -> anyhow::Result<()> {
    let app = App::open(config)?;
    let r = crate::ingest::check(app.store.as_ref(), app.catalog.as_ref())?;
    let (swept, bytes) = if sweep { app.ingest.sweep_orphans(std::time::Duration::ZERO)? } else { (0, 0) };
    out!(
        "{}",
        serde_json::json!({
            "referenced": r.referenced, "stored": r.stored,
            "missing": r.missing.iter().map(|h| h.to_hex()).collect::<Vec<_>>(),
            "wrong_size": r.wrong_size.iter().map(|h| h.to_hex()).collect::<Vec<_>>(),
            "orphans": r.orphans.len(), "swept": swept, "swept_bytes": bytes,
        })
    );
    if !r.missing.is_empty() || !r.wrong_size.is_empty() {
        anyhow::bail!("{} referenced blob(s) missing, {} with the wrong size", r.missing.len(), r.wrong_size.len());
    }
    Ok(())
}

fn run_migrate(config: Config, to_catalog: Option<String>, to_store: Option<String>, quiet: bool) -> anyhow::Result<()> {
    use crate::catalog::prelude::*;
    use indicatif::{ProgressBar, ProgressStyle};
    if to_catalog.is_none() && to_store.is_none() {
        anyhow::bail!("nothing to do: give --to-catalog postgres://… and/or --to-store s3://…");
    }
    if !config.catalog.url.is_empty() || !config.store.url.is_empty() {
        anyhow::bail!("migrate copies this data dir's SQLite catalog and blobs: run it with catalog.url and store.url unset");
    }
    let dir = config.data_dir.clone();
    let db = dir.join("tonearm.db");
    if !db.exists() {
        anyhow::bail!("no catalog at {}", db.display());
    }
    let bar = |what: &str| -> ProgressBar {
        if quiet || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let style = ProgressStyle::with_template(&format!("{what} {{bar:40}} {{pos}}/{{len}} {{msg}} ({{per_sec}}, eta {{eta}})"))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        ProgressBar::new(0).with_style(style)
    };
    let mut report = serde_json::Map::new();
    if let Some(url) = &to_catalog {
        let pb = bar("catalog");
        let copied = crate::catalog::copy_sqlite_to_postgres(&db, url, &|table, done, total| {
            pb.set_message(table.to_string());
            pb.set_length(total);
            pb.set_position(done);
        })?;
        pb.finish_and_clear();
        // The keys this node made, so that its signed URLs and sealed passwords stay good
        // (unless files are configured, which every node then reads).
        let target = crate::catalog::open_postgres(url)?;
        for (name, file, configured) in [("signing", "secret.key", &config.auth.signing_key_file), ("subsonic", "subsonic.key", &config.subsonic.key_file)] {
            let path = dir.join(file);
            if configured.is_empty() && path.exists() {
                let key = crate::signing::key_file(&path)?;
                if target.server_key(name, &key)? != key {
                    tracing::warn!(key = name, "the catalog already had another {name} key; it stays (URLs signed by this node's key stop working)");
                }
            }
        }
        let tables: serde_json::Map<String, serde_json::Value> =
            copied.iter().map(|c| (c.table.to_string(), serde_json::json!({ "rows": c.rows, "added": c.added }))).collect();
        report.insert("catalog".into(), tables.into());
    }
    if let Some(url) = &to_store {
        let settings = crate::app::s3_settings(&config, url).with_context(|| format!("{url}: expected s3://bucket[/prefix]"))?;
        let to = crate::store::S3Store::open(settings)?;
        let from = crate::store::LocalStore::open(dir.join("blobs"))?;
        let catalog = crate::catalog::open_sqlite(&db)?;
        let pb = bar("blobs");
        let (copied, there) = crate::ingest::copy_blobs(&catalog, &from, &to, &|done, total| {
            pb.set_length(total);
            pb.set_position(done);
        })?;
        pb.finish_and_clear();
        report.insert("blobs".into(), serde_json::json!({ "copied": copied, "already_there": there }));
    }
    out!("{}", serde_json::Value::Object(report));
    Ok(())
}

fn run_transcode(input: &std::path::Path, format: &str, kbps: u32, offset: f64, output: &std::path::Path) -> anyhow::Result<()> {
    use crate::encode::Codec;
    use crate::media::decode::SourceInfo;
    use std::io::Write;
    let codec = Codec::parse(format).with_context(|| format!("unknown format {format:?}: use aac, opus or mp3"))?;
    let p = crate::media::probe::probe_path(input).with_context(|| format!("probing {}", input.display()))?;
    let info = SourceInfo { container: p.container, codec: p.codec, sample_rate: p.sample_rate, channels: p.channels, frames: p.frames, priming: p.priming };
    let ext = input.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let path = input.to_path_buf();
    let open = move || -> std::io::Result<Box<dyn symphonia::core::io::MediaSource>> { Ok(Box::new(std::fs::File::open(&path)?)) };
    let mut out: Box<dyn Write> = if output == std::path::Path::new("-") {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(std::io::BufWriter::new(std::fs::File::create(output).with_context(|| format!("creating {}", output.display()))?))
    };
    let mut failed = None;
    let plan = crate::package::progressive::plan(&info, offset);
    crate::package::progressive::stream(&open, &ext, &info, codec, kbps * 1000, plan, &mut |chunk| match out.write_all(&chunk) {
        Ok(()) => true,
        Err(e) => {
            failed = Some(e);
            false
        }
    })?;
    if let Some(e) = failed {
        return Err(e).context("writing the output");
    }
    out.flush()?;
    Ok(())
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("reading password from stdin")?;
        let pw = line.trim_end_matches(['\n', '\r']).to_string();
        if pw.is_empty() {
            bail!("no password on standard input");
        }
        return Ok(pw);
    }
    if !std::io::stdin().is_terminal() {
        bail!("standard input is not a terminal: pass --password-stdin and pipe the password");
    }
    let pw = rpassword::prompt_password("Password: ")?;
    let again = rpassword::prompt_password("Repeat password: ")?;
    if pw != again {
        bail!("passwords do not match");
    }
    Ok(pw)
}

fn run_user(config: Config, action: UserCmd) -> anyhow::Result<()> {
    let app = App::open(config)?;
    match action {
        UserCmd::Add { name, admin, password_stdin } => {
            let pw = read_password(password_stdin)?;
            let u = app.services.accounts.create_user(Actor::Operator, &name, &pw, admin)?;
            out!("created user '{}'{}", u.username, if u.is_admin { " (admin)" } else { "" });
        }
        UserCmd::List => {
            for u in app.services.accounts.list_users(Actor::Operator)? {
                out!("{}\t{}", u.username, if u.is_admin { "admin" } else { "user" });
            }
        }
        UserCmd::Delete { name } => {
            let (n, bytes) = app.services.accounts.delete_user_named(Actor::Operator, &name)?;
            out!("deleted user '{name}'; freed {n} blob(s), {}", human_bytes(bytes));
        }
        UserCmd::Passwd { name, password_stdin } => {
            let pw = read_password(password_stdin)?;
            app.services.accounts.set_password(Actor::Operator, &name, &pw)?;
            out!("password changed for '{name}'; existing sessions ended");
        }
        UserCmd::Upnp { name, state } => {
            let shared = app.services.lan.set_shared(Actor::Operator, &name, state == "on")?;
            match state.as_str() {
                "on" => {
                    out!("the local network now sees '{name}'s library (UPnP device uuid:{})", shared.uuid);
                    if !app.config.upnp.enabled {
                        out!(
                            "note: this configuration has [upnp] enabled = false; the server must run with it on (TONEARM_UPNP__ENABLED=true) for the LAN to see it"
                        );
                    }
                }
                _ => out!("the local network no longer sees '{name}'s library"),
            }
        }
        UserCmd::ApiKey(cmd) => {
            let accounts = &app.services.accounts;
            match cmd {
                ApiKeyCmd::Add { name, label } => {
                    let user = accounts.user_by_name(Actor::Operator, &name)?;
                    let (_, key) = accounts.add_api_key(&user, &label)?;
                    out!("{key}");
                }
                ApiKeyCmd::List { name } => {
                    let user = accounts.user_by_name(Actor::Operator, &name)?;
                    for k in accounts.api_keys(&user)? {
                        let used = k.last_used_at.map_or("never".to_string(), |t| t.to_string());
                        out!("{}\t{}\tcreated {}\tlast used {used}", k.id, k.label, k.created_at);
                    }
                }
                ApiKeyCmd::Revoke { name, id } => {
                    let user = accounts.user_by_name(Actor::Operator, &name)?;
                    accounts.revoke_api_key(&user, id)?;
                    out!("revoked API key {id} of '{name}'");
                }
            }
        }
    }
    Ok(())
}

fn run_import(config: Config, paths: Vec<PathBuf>, user: &str, threads: Option<usize>, quiet: bool) -> anyhow::Result<()> {
    for p in &paths {
        if !p.exists() {
            bail!("{} does not exist", p.display());
        }
    }
    let threads = threads.unwrap_or_else(|| config.import_threads());
    let batch_size = config.import.batch_size;
    let app = App::open(config)?;
    let (u, _) = app.catalog.user_by_name(user)?.with_context(|| format!("no user '{user}' (create it with `tonearm user add {user}`)"))?;
    let ingest = app.ingest.clone();
    let opts = ImportOptions { threads, batch_size, progress: !quiet && std::io::stderr().is_terminal() };
    let r = import(&ingest, u.id, &paths, &opts)?;
    let secs = r.elapsed.as_secs_f64().max(1e-6);
    out!(
        "imported {} file(s), {} in {:.2} s ({:.0} files/s, {}/s)",
        r.imported,
        human_bytes(r.bytes),
        secs,
        (r.imported + r.already_present) as f64 / secs,
        human_bytes((r.bytes as f64 / secs) as u64)
    );
    out!("already present: {}", r.already_present);
    if r.skipped > 0 {
        out!("skipped (images, logs, cue sheets, playlists): {}", r.skipped);
    }
    if !r.flagged.is_empty() {
        out!("imported but damaged: {}", r.flagged.len());
        for (p, why) in &r.flagged {
            out!("  {}: {why}", p.display());
        }
    }
    out!("rejected: {}", r.rejected.len());
    for rej in &r.rejected {
        out!("  {}: [{}] {}", rej.path.display(), rej.code, rej.reason);
    }
    Ok(())
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[i]) }
}
