//! The `withus` binary: parses arguments, sets up logging, and calls the library. No logic here.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::{BufWriter, IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use withus::format::to_hex;
use withus::store::{LogStore, StoreConfig, VerifyReport};

#[path = "cli/backup.rs"]
mod backup_cmd;
#[path = "cli/sar.rs"]
mod sar_cmd;

/// Exit code: the command did what it was asked and, for `verify`, the store verified.
const EXIT_OK: u8 = 0;
/// Exit code: verification ran and found a problem, or `rebuild --check` found views that
/// differed from a replay of the log.
const EXIT_VERIFY_FAILED: u8 = 1;
/// Exit code: bad usage (clap's own for bad arguments; also a `--language`, `--retention` or
/// `--oidc` file that does not read).
const EXIT_USAGE: u8 = 2;
/// Exit code: the store could not be opened or read (see the message).
const EXIT_ERROR: u8 = 3;

#[derive(Parser)]
#[command(
    name = "withus",
    version,
    about = "withus: co-produced peer-support records on a verifiable log"
)]
#[command(
    after_help = "Exit codes: 0 success; 1 verification found a problem (log verify, sar verify, sar check-head) or the views had drifted from the log (rebuild --check), or a backup or export given to restore is damaged, altered, truncated or its passphrase wrong; 2 bad usage (also a serve --language, --retention or --oidc file, or a retention plan --policy file, that does not read; a restore without its keys or into a directory that is not empty); 3 the store could not be opened or read, or the server could not be reached; 4 the server refused the call (the message says why)."
)]
struct Cli {
    /// How log lines are written to standard error: `text` for people, `json` (one object per
    /// line, with the span's fields) for log shippers. RUST_LOG sets what is logged, e.g.
    /// `RUST_LOG=info,withus::grpc=debug` logs every call.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Work with the event log directly (no other process may have the data directory open).
    Log {
        #[command(subcommand)]
        command: LogCommand,
    },
    /// Serve the gRPC API (withus.v1, health, reflection) until SIGINT or SIGTERM.
    ///
    /// Binds first and answers health checks with NOT_SERVING while the store opens and its
    /// views catch up, then SERVING. On the first start it registers the first admin and prints
    /// an admin token (once) and the verifier key. On SIGINT/SIGTERM it stops accepting, reports
    /// NOT_SERVING, ends subscriptions (UNAVAILABLE, with the seq to resume from) and health
    /// watches, lets in-flight calls finish, saves the views, closes the store and exits 0.
    /// If the store fails (every write refused until restart), health turns NOT_SERVING.
    /// Refuses to start with a --tls-key others can read. Requests may be up to 5 MiB (a note
    /// of 64 segments of 64 KiB).
    Serve {
        /// Data directory of the store (created if missing; embedded sled).
        #[arg(long, default_value = "./withus-data")]
        data: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:50051")]
        listen: std::net::SocketAddr,
        /// Also serve HTTP/1.1 on this address: GET /metrics (Prometheus / OpenMetrics text),
        /// /healthz (200 unless the store has failed), /readyz (200 only while gRPC health
        /// says SERVING), and the person's own page at / (sign in with a code from `admin
        /// issue-sign-in-code`, or an ID token with --oidc). Off unless given. Plain HTTP: keep
        /// it on a private network, and put the person's page behind a TLS proxy (its session
        /// cookie is Secure: browsers send it over HTTPS, or to localhost only).
        #[arg(long, value_name = "ADDR")]
        http: Option<std::net::SocketAddr>,
        /// PEM certificate chain for TLS (with --tls-key); without both, plain HTTP/2.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// PEM private key for TLS (with --tls-cert); refused unless only its owner can read it.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Id of the first admin, registered on the first start of an empty store.
        #[arg(long, default_value = "admin")]
        admin_id: String,
        /// A JSON file of the facts every subject access bundle states (sar-bundle.md §6):
        /// an object with any of "controller", "purposes", "retention", "source", "rights"
        /// (strings, in plain words). Fields left out keep their defaults; `recipients` is
        /// always read from the person's access entries.
        #[arg(long)]
        about: Option<PathBuf>,
        /// The organisation's own recovery-focused language list (TOML, the format of
        /// data/language-prompts.toml, which is the default): phrases that stigmatise or describe
        /// people by deficit, why, alternatives and sources. Notes, concerns and the other calls
        /// that carry text answer with advisory prompts from it (never a refusal, never stored).
        /// A file that does not read is refused at start, naming the line and entry (exit 2).
        #[arg(long, value_name = "FILE")]
        language: Option<PathBuf>,
        /// The organisation's retention policy (TOML, the format of retention.example.toml):
        /// years kept after the end of care, after death, and children's birthdays. Keys left
        /// out keep the default, the NHS Records Management Code of Practice 2021 for
        /// mental-health records. The server erases what is due daily. A file that does not read
        /// is refused at start, naming the line (exit 2).
        #[arg(long, value_name = "FILE")]
        retention: Option<PathBuf>,
        /// OpenID Connect sign-in (TOML): `issuer` (the URL in its tokens' `iss`), `audience`
        /// (this server's client id, or a list), `jwks` (the issuer's JWKS file, relative to this
        /// file or absolute) and optionally `leeway_secs` (clock skew allowed on exp/nbf, default
        /// 60, at most 300). Beside bearer tokens, the server then accepts the issuer's ID and
        /// access tokens (JWTs signed RS256 or ES256 by a key of the JWKS) from actors an admin
        /// linked (`withus admin link-identity`). A file that does not read is refused at start,
        /// saying what is wrong (exit 2).
        #[arg(long, value_name = "FILE")]
        oidc: Option<PathBuf>,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Retention: what the retention schedule would erase, and when (for the DPO).
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// Administer a running server over gRPC: actors, tokens and sign-in identities (admins
    /// only).
    Admin {
        /// The server's URL.
        #[arg(long, default_value = "http://127.0.0.1:50051")]
        server: String,
        /// An admin's bearer token (printed by `withus serve` on its first start).
        #[arg(long)]
        token: String,
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Subject access bundles: fetch one from a server, verify it offline, make the page a
    /// person reads, check its signed head against the log's export.
    Sar {
        #[command(subcommand)]
        command: sar_cmd::SarCommand,
    },
    /// Play the seeds' story through a running server's API — opt-in, a meeting in a café, a
    /// co-produced note with an agreed redaction, consent granted then revoked around a
    /// clinician's reads, a safeguarding concern — and print the person's record and access log
    /// in plain words. Registers its own cast (with a fresh suffix) using an admin token.
    Demo {
        /// The server's URL.
        #[arg(long, default_value = "http://127.0.0.1:50051")]
        server: String,
        /// An admin's bearer token.
        #[arg(long)]
        token: String,
    },
    /// Take a consistent backup of a running server (admins): every entry up to the tree size
    /// when it starts, the sealed content and salts of the segments they commit to, request
    /// digests and the signed checkpoint; with --with-keys also the signing key, sealed to a
    /// passphrase (Argon2id, ChaCha20-Poly1305). Appends go on meanwhile. Written to
    /// FILE.partial (mode 0600), fsynced, then renamed to FILE. The file holds everyone's
    /// content: keep it as safe as the data directory, and destroy it when it is no longer
    /// needed (an erasure made after it was taken is not in it; see `withus restore
    /// --erasures-from`).
    Backup {
        /// The server's URL.
        #[arg(long, default_value = "http://127.0.0.1:50051")]
        server: String,
        /// An admin's bearer token.
        #[arg(long)]
        token: String,
        /// The backup file to write; refused if it exists, unless --force.
        #[arg(long)]
        out: PathBuf,
        /// Include the store's signing key, sealed to the passphrase in --passphrase-file.
        #[arg(long, requires = "passphrase_file")]
        with_keys: bool,
        /// A file holding the passphrase (at least 12 characters; one trailing newline is
        /// ignored). Only with --with-keys.
        #[arg(long, requires = "with_keys")]
        passphrase_file: Option<PathBuf>,
        /// Replace FILE if it exists (atomically: the old file stays until the new one is
        /// complete).
        #[arg(long)]
        force: bool,
    },
    /// Write a fresh store from a backup file into a new data directory, re-applying every
    /// erasure its log records (and, with --erasures-from, every erasure recorded since, in a
    /// later `withus log export` of the live log): erased content is never written. Checks the
    /// key against the backup's vkey before writing anything, then that the restored store's
    /// root is the backup checkpoint's and that it verifies (`withus log verify`). Refuses a
    /// directory that is not empty. Exit 1 if the file (or the export) is damaged, altered,
    /// truncated or opened with the wrong passphrase, naming where; 2 if keys are missing or
    /// the directory is not empty.
    ///
    /// One of --erasures-from or --no-later-erasures is required: restoring a backup alone
    /// would bring back whatever was erased after it was taken.
    #[command(group(clap::ArgGroup::new("later_erasures").required(true).args(["erasures_from", "no_later_erasures"])))]
    Restore {
        /// The backup file (`withus backup`).
        file: PathBuf,
        /// The new data directory (must not exist, or be empty).
        #[arg(long)]
        data: PathBuf,
        /// For a backup taken --with-keys: the file holding its passphrase.
        #[arg(long, conflicts_with = "key_file")]
        passphrase_file: Option<PathBuf>,
        /// For a backup taken without --with-keys: a copy of the live store's checkpoint.key
        /// (mode 0600).
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// A later `withus log export` of the live log (text-free; `--server` works while it
        /// runs): its first entries must be the backup's (same root), and every erasure it
        /// records is applied too. Use it whenever anything may have been erased since the
        /// backup was taken.
        #[arg(long, value_name = "EXPORT")]
        erasures_from: Option<PathBuf>,
        /// Say that nothing was erased after the backup was taken (or that the live log is
        /// lost, so no later export exists): restore from the backup's own log alone.
        #[arg(long)]
        no_later_erasures: bool,
    },
    /// Rebuild the persisted views from the log; with --check, fail if they had drifted.
    ///
    /// Replays the whole log from zero into fresh projections and replaces the persisted views
    /// with them (rule 1: every view is a projection of the log). First compares them with the
    /// persisted views brought up to the end of the log the way the service does (naming the
    /// first record that differs), and prints the new views' digest. No other process may have
    /// the data directory open.
    Rebuild {
        /// Data directory of the store.
        #[arg(long, default_value = "./withus-data")]
        data: PathBuf,
        /// Exit 1 if the rebuilt views differ byte for byte from the ones found.
        #[arg(long)]
        check: bool,
    },
}

/// Transport limits of `withus serve`: what one client can make the server hold.
#[derive(clap::Args)]
#[command(next_help_heading = "Transport limits")]
struct LimitArgs {
    /// Most connections served at once; beyond it the server stops accepting until one closes.
    #[arg(long, default_value_t = default_limits().max_connections,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Most concurrent calls (HTTP/2 streams) per connection; a client queues calls beyond it.
    #[arg(long, default_value_t = default_limits().max_concurrent_streams,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_concurrent_streams: u32,
    /// Seconds a unary call may take, receiving the request included (subscriptions and health
    /// watches are not cut: they answer at once, then stream).
    #[arg(long, default_value_t = default_limits().request_timeout.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    request_timeout_secs: u64,
    /// Seconds a new connection may take to send its first bytes (HTTP/2 preface or TLS hello).
    #[arg(long, default_value_t = default_limits().handshake_timeout.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    handshake_timeout_secs: u64,
    /// Seconds between the server's HTTP/2 keepalive pings, which find dead peers.
    #[arg(long, default_value_t = default_limits().keepalive_interval.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    keepalive_secs: u64,
    /// Seconds a keepalive ping may go unanswered before the connection is closed.
    #[arg(long, default_value_t = default_limits().keepalive_timeout.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    keepalive_timeout_secs: u64,
    /// Largest request header list (all metadata of one call), in bytes.
    #[arg(long, default_value_t = default_limits().max_header_list_bytes,
          value_parser = clap::value_parser!(u32).range(1024..))]
    max_header_bytes: u32,
}

fn default_limits() -> withus::grpc::Limits {
    withus::grpc::Limits::default()
}

impl LimitArgs {
    fn limits(&self) -> withus::grpc::Limits {
        use std::time::Duration;
        withus::grpc::Limits {
            max_connections: self.max_connections,
            max_concurrent_streams: self.max_concurrent_streams,
            request_timeout: Duration::from_secs(self.request_timeout_secs),
            handshake_timeout: Duration::from_secs(self.handshake_timeout_secs),
            keepalive_interval: Duration::from_secs(self.keepalive_secs),
            keepalive_timeout: Duration::from_secs(self.keepalive_timeout_secs),
            max_header_list_bytes: self.max_header_bytes,
        }
    }
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Register an actor.
    Register {
        /// 1-128 printable ASCII, no spaces (a service user's id is their subject id).
        #[arg(long)]
        id: String,
        /// service_user | peer_worker | care_team | safeguarding_lead | auditor | admin | representative
        #[arg(long)]
        role: String,
        /// The team (required for peer_worker and care_team).
        #[arg(long, default_value = "")]
        team: String,
        /// The name to show (stored as content, not in the log).
        #[arg(long)]
        name: String,
        /// Idempotency key; a fresh one if not given (give it to retry safely).
        #[arg(long)]
        command_id: Option<String>,
    },
    /// Deactivate an actor.
    Deactivate {
        #[arg(long)]
        id: String,
        /// left_organisation | role_changed | duplicate | other
        #[arg(long)]
        reason: String,
        #[arg(long)]
        command_id: Option<String>,
    },
    /// Issue a bearer token for an actor; prints it once.
    IssueToken {
        #[arg(long)]
        actor: String,
        /// Expiry, YYYY-MM-DDTHH:MM:SS.mmmZ; none: until revoked.
        #[arg(long, default_value = "")]
        expires_at: String,
        #[arg(long)]
        command_id: Option<String>,
    },
    /// Issue a one-time code with which a person signs in to their own page (`serve --http`):
    /// usable once, for 15 minutes; prints it once. Admins, and the person's peer worker.
    IssueSignInCode {
        /// The person (a service user).
        #[arg(long)]
        person: String,
        #[arg(long)]
        command_id: Option<String>,
    },
    /// Revoke a token by its hash (as printed when it was issued).
    RevokeToken {
        #[arg(long)]
        token_hash: String,
        #[arg(long)]
        command_id: Option<String>,
    },
    /// Link a person's sign-in at an OpenID Connect issuer to an actor: the issuer's tokens
    /// whose `sub` is SUB then act as the actor (on a server started with --oidc for that
    /// issuer). The log keeps only a keyed digest of issuer and subject.
    LinkIdentity {
        #[arg(long)]
        actor: String,
        /// The issuer's URL, exactly as in its tokens' `iss`.
        #[arg(long)]
        issuer: String,
        /// The person's `sub` at that issuer.
        #[arg(long)]
        subject: String,
        #[arg(long)]
        command_id: Option<String>,
    },
    /// Cut an actor's link at an issuer: that identity no longer signs in as them.
    UnlinkIdentity {
        #[arg(long)]
        actor: String,
        #[arg(long)]
        issuer: String,
        #[arg(long)]
        command_id: Option<String>,
    },
    /// List the registered actors: id, role, team, active, usable tokens, the OpenID Connect
    /// issuers they can sign in through (never a token, a token hash, an identity or a name).
    /// Admins and auditors.
    List,
}

#[derive(Subcommand)]
enum RetentionCommand {
    /// List, per person, what the retention schedule would erase and when, or why not (care
    /// not ended, a legal hold in force, already erased). Read-only: replays the log of a data
    /// directory no other process has open; prints no content. One line per person: a table,
    /// or JSON lines with --json.
    Plan {
        /// Data directory of the store.
        #[arg(long, default_value = "./withus-data")]
        data: PathBuf,
        /// The retention policy (as for `withus serve --retention`); default the NHS 2021 code's.
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// The plan as of this time (YYYY-MM-DDTHH:MM:SS.mmmZ); default now.
        #[arg(long)]
        at: Option<String>,
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum LogCommand {
    /// Write every entry's exact bytes, one per line, in seq order (log-format.md §5).
    /// Works read-only, also on a damaged store; or, with --server, from a running server
    /// (auditors and admins), as of its tree size when the export starts: the same bytes.
    Export {
        /// Data directory of the store.
        #[arg(long, default_value = "./withus-data")]
        data: PathBuf,
        /// Export from a running server instead (its URL), with --token.
        #[arg(long, requires = "token")]
        server: Option<String>,
        /// An auditor's or admin's bearer token (with --server).
        #[arg(long, requires = "server")]
        token: Option<String>,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check the whole store (every check of log-format.md §6, Merkle nodes, indexes, content
    /// slots), or with --checkpoint only what was appended since a trusted checkpoint; or, with
    /// --server, a running server's log: every entry streamed (§6's checks) and the server's
    /// checkpoint of them, which must verify with --vkey and have their root.
    /// Read-only; exits 1 and names the first bad seq when anything is wrong.
    Verify {
        /// Data directory of the store.
        #[arg(long, default_value = "./withus-data")]
        data: PathBuf,
        /// Verify a running server's log instead (its URL), with --token and --vkey.
        #[arg(long, requires_all = ["token", "vkey"], conflicts_with = "checkpoint")]
        server: Option<String>,
        /// An auditor's or admin's bearer token (with --server).
        #[arg(long, requires = "server")]
        token: Option<String>,
        /// A signed checkpoint (file) you trust; only entries after it are checked.
        #[arg(long, requires = "vkey")]
        checkpoint: Option<PathBuf>,
        /// The verifier key that signed --checkpoint, or that must sign the server's checkpoint
        /// with --server (as printed by `withus log vkey`; from a source you trust).
        #[arg(long)]
        vkey: Option<String>,
    },
    /// Print a signed checkpoint (C2SP signed note) of the current tree.
    Checkpoint {
        /// Data directory of the store.
        #[arg(long, default_value = "./withus-data")]
        data: PathBuf,
    },
    /// Print the verifier key for this log's checkpoints.
    Vkey {
        /// Data directory of the store.
        #[arg(long, default_value = "./withus-data")]
        data: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The server logs its lifecycle; one-shot commands only what went wrong. RUST_LOG overrides.
    let default = match cli.command {
        Command::Serve { .. } => "info",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match cli.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("withus: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    let command = match cli.command {
        Command::Log { command } => command,
        Command::Rebuild { data, check } => return rebuild(data, check),
        Command::Admin {
            server,
            token,
            command,
        } => return admin(server, token, command),
        Command::Demo { server, token } => return demo(server, token),
        Command::Backup {
            server,
            token,
            out,
            with_keys,
            passphrase_file,
            force,
        } => return backup_cmd::backup(server, token, out, with_keys, passphrase_file, force),
        Command::Restore {
            file,
            data,
            passphrase_file,
            key_file,
            erasures_from,
            no_later_erasures: _,
        } => return backup_cmd::restore(file, data, passphrase_file, key_file, erasures_from),
        Command::Sar { command } => return sar_cmd::run(command),
        Command::Retention {
            command:
                RetentionCommand::Plan {
                    data,
                    policy,
                    at,
                    json,
                },
        } => return retention_plan(data, policy, at, json),
        Command::Serve {
            data,
            listen,
            http,
            tls_cert,
            tls_key,
            admin_id,
            about,
            language,
            retention,
            oidc,
            limits,
        } => {
            let oidc = match oidc {
                Some(path) => match withus::oidc::Verifier::load(&path) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        eprintln!("withus: --oidc {}: {e}", path.display());
                        return Ok(EXIT_USAGE);
                    }
                },
                None => None,
            };
            let retention = match retention {
                Some(path) => match read_policy(&path) {
                    Ok(p) => p,
                    Err(e) => {
                        eprintln!("withus: --retention {}: {e}", path.display());
                        return Ok(EXIT_USAGE);
                    }
                },
                None => Default::default(),
            };
            let about = match about {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read --about {}", path.display()))?;
                    serde_json::from_str(&text)
                        .with_context(|| format!("--about {}", path.display()))?
                }
                None => Default::default(),
            };
            let language = match language {
                Some(path) => match read_language(&path) {
                    Ok(list) => list,
                    Err(e) => {
                        eprintln!("withus: --language {}: {e}", path.display());
                        return Ok(EXIT_USAGE);
                    }
                },
                None => Default::default(),
            };
            return serve(
                data,
                listen,
                http,
                tls_cert.zip(tls_key),
                admin_id,
                about,
                language,
                retention,
                oidc,
                limits.limits(),
            );
        }
    };
    match command {
        LogCommand::Export {
            server: Some(server),
            token: Some(token),
            out,
            ..
        } => backup_cmd::export(server, token, out),
        LogCommand::Verify {
            server: Some(server),
            token: Some(token),
            vkey: Some(vkey),
            ..
        } => backup_cmd::verify(server, token, vkey),
        LogCommand::Export { data, out, .. } => {
            let store = LogStore::open_read_only(&data)?;
            let mut w = backup_cmd::export_output(out.as_deref())?;
            let mut w = BufWriter::with_capacity(1 << 20, &mut w);
            let mut n = 0u64;
            for e in store.entries(0, store.size()) {
                let e = e?;
                w.write_all(&e.bytes)?;
                w.write_all(b"\n")?;
                n += 1;
            }
            w.flush()?;
            drop(w);
            if out.is_some() {
                eprintln!("exported {n} entries");
            }
            Ok(EXIT_OK)
        }
        LogCommand::Verify {
            data,
            checkpoint,
            vkey,
            ..
        } => {
            if checkpoint.is_none() && vkey.is_some() {
                eprintln!("withus: --vkey goes with --checkpoint FILE or --server URL");
                return Ok(EXIT_USAGE);
            }
            let store = LogStore::open_read_only(&data)?;
            let bar = progress_bar(store.size());
            let mut tick = |done: u64, total: u64| {
                bar.set_length(total);
                bar.set_position(done);
            };
            let report = match (checkpoint, vkey) {
                (Some(cp), Some(vkey)) => {
                    let note = std::fs::read_to_string(&cp)
                        .with_context(|| format!("cannot read {}", cp.display()))?;
                    store.verify_since(&note, &vkey, &mut tick)?
                }
                _ => store.verify(&mut tick)?,
            };
            bar.finish_and_clear();
            Ok(summarise(&report))
        }
        LogCommand::Checkpoint { data } => {
            let store = LogStore::open(StoreConfig::new(&data))?;
            print!("{}", store.checkpoint()?);
            store.close()?;
            Ok(EXIT_OK)
        }
        LogCommand::Vkey { data } => {
            let store = LogStore::open_read_only(&data)?;
            println!("{}", store.vkey()?);
            Ok(EXIT_OK)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Exit code of a client command whose call the server refused.
const EXIT_REFUSED: u8 = 4;

fn client_exit(e: withus::grpc::client::ClientError) -> anyhow::Result<u8> {
    eprintln!("withus: {e}");
    Ok(match e {
        withus::grpc::client::ClientError::Call { .. } => EXIT_REFUSED,
        _ => EXIT_ERROR,
    })
}

fn print_receipts(r: &withus::grpc::pb::Receipts) {
    for r in &r.receipts {
        println!(
            "appended seq {} (leaf {}), tree size {}",
            r.seq, r.leaf_hash, r.tree_size
        );
    }
}

fn admin(server: String, token: String, command: AdminCommand) -> anyhow::Result<u8> {
    use withus::grpc::pb::Role;
    runtime()?.block_on(async move {
        let c = match withus::grpc::client::Client::connect(&server, &token).await {
            Ok(c) => c,
            Err(e) => return client_exit(e),
        };
        let result = match command {
            AdminCommand::Register { id, role, team, name, command_id } => {
                let role = match Role::from_str_name(&format!("ROLE_{}", role.to_uppercase())) {
                    Some(Role::Unspecified) | None => anyhow::bail!("unknown role {role:?}: service_user | peer_worker | care_team | safeguarding_lead | auditor | admin | representative"),
                    Some(r) => r,
                };
                c.register_actor(&id, role, &team, &name, command_id).await.map(|r| print_receipts(&r))
            }
            AdminCommand::Deactivate { id, reason, command_id } => {
                c.deactivate_actor(&id, &reason, command_id).await.map(|r| print_receipts(&r))
            }
            AdminCommand::IssueToken { actor, expires_at, command_id } => {
                c.issue_token(&actor, &expires_at, command_id).await.map(|r| {
                    println!("token (shown once; keep it safe): {}", r.token);
                    println!("token hash (to revoke it): {}", r.token_hash);
                    if let Some(r) = &r.receipts {
                        print_receipts(r);
                    }
                })
            }
            AdminCommand::IssueSignInCode { person, command_id } => {
                c.issue_sign_in_code(&person, command_id).await.map(|r| {
                    println!("sign-in code for {person} (shown once, usable once): {}", r.code);
                    println!(
                        "it stops working at {}",
                        withus::grpc::client::when(&r.expires_at)
                    );
                    if let Some(r) = &r.receipts {
                        print_receipts(r);
                    }
                })
            }
            AdminCommand::RevokeToken { token_hash, command_id } => {
                c.revoke_token(&token_hash, command_id).await.map(|r| print_receipts(&r))
            }
            AdminCommand::LinkIdentity { actor, issuer, subject, command_id } => {
                c.link_identity(&actor, &issuer, &subject, command_id).await.map(|r| print_receipts(&r))
            }
            AdminCommand::UnlinkIdentity { actor, issuer, command_id } => {
                c.unlink_identity(&actor, &issuer, command_id).await.map(|r| print_receipts(&r))
            }
            AdminCommand::List => c.list_actors().await.map(|actors| {
                println!("{:<24} {:<18} {:<18} {:<8} {:>6}  sign-in through", "id", "role", "team", "active", "tokens");
                for a in &actors {
                    let role = a.role().as_str_name().trim_start_matches("ROLE_").to_lowercase();
                    let active = if a.active { "yes" } else { "no" };
                    println!("{:<24} {:<18} {:<18} {:<8} {:>6}  {}", a.id, role, a.team, active, a.usable_tokens, a.linked_issuers.join(" "));
                }
            }),
        };
        match result {
            Ok(()) => Ok(EXIT_OK),
            Err(e) => client_exit(e),
        }
    })
}

fn demo(server: String, token: String) -> anyhow::Result<u8> {
    runtime()?.block_on(async move {
        let c = match withus::grpc::client::Client::connect(&server, &token).await {
            Ok(c) => c,
            Err(e) => return client_exit(e),
        };
        match withus::grpc::client::demo(&c).await {
            Ok(text) => {
                print!("{text}");
                Ok(EXIT_OK)
            }
            Err(e) => client_exit(e),
        }
    })
}

/// The organisation's language list from `--language FILE`, or why it cannot be used.
fn read_language(path: &std::path::Path) -> Result<withus::language::LanguageList, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read it: {e}"))?;
    withus::language::LanguageList::parse(&text).map_err(|e| e.to_string())
}

/// The retention policy from `--retention FILE` / `--policy FILE`, or why it cannot be used.
fn read_policy(path: &std::path::Path) -> Result<withus::domain::retention::Policy, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read it: {e}"))?;
    withus::domain::retention::Policy::parse(&text)
}

/// `withus retention plan`: replays the log read-only and prints the plan.
fn retention_plan(
    data: PathBuf,
    policy: Option<PathBuf>,
    at: Option<String>,
    json: bool,
) -> anyhow::Result<u8> {
    use withus::domain::retention;
    let policy = match policy {
        Some(path) => match read_policy(&path) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("withus: --policy {}: {e}", path.display());
                return Ok(EXIT_USAGE);
            }
        },
        None => Default::default(),
    };
    let at = match at {
        Some(s) => match withus::domain::types::Time::parse(&s) {
            Some(t) => t,
            None => {
                eprintln!("withus: --at {s:?} is not a time of the form YYYY-MM-DDTHH:MM:SS.mmmZ");
                return Ok(EXIT_USAGE);
            }
        },
        None => withus::domain::types::Time(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
        ),
    };
    let store = LogStore::open_read_only(&data)?;
    let p = withus::service::replay(&store, store.size())?;
    let plan = retention::plan(&p, &policy, at);
    let mut out = std::io::stdout().lock();
    if json {
        for e in &plan {
            writeln!(out, "{}", serde_json::to_string(e)?)?;
        }
    } else {
        writeln!(
            out,
            "{:<24} {:<13} {:<18} {:<10} {:<10} {:>8}  note",
            "person", "state", "rule", "basis", "due", "segments"
        )?;
        for e in &plan {
            let note = match (&e.why, e.holds.is_empty(), e.erased_at) {
                (Some(why), _, _) => why.clone(),
                (None, false, _) => format!("legal hold: {}", e.holds.join(", ")),
                (None, true, Some(t)) => format!("erased {t}"),
                (None, true, None) => String::new(),
            };
            writeln!(
                out,
                "{:<24} {:<13} {:<18} {:<10} {:<10} {:>8}  {note}",
                e.subject,
                e.state.as_str(),
                e.rule.map(|r| r.as_str()).unwrap_or("-"),
                e.basis.as_deref().unwrap_or("-"),
                e.due.as_deref().unwrap_or("-"),
                e.segments
            )?;
        }
    }
    Ok(EXIT_OK)
}

#[allow(clippy::too_many_arguments)]
fn serve(
    data: PathBuf,
    listen: std::net::SocketAddr,
    http: Option<std::net::SocketAddr>,
    tls: Option<(PathBuf, PathBuf)>,
    admin_id: String,
    about: withus::sar::compose::About,
    language: withus::language::LanguageList,
    retention: withus::domain::retention::Policy,
    oidc: Option<withus::oidc::Verifier>,
    limits: withus::grpc::Limits,
) -> anyhow::Result<u8> {
    runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let http = match http {
            Some(addr) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on --http {addr}"))?,
            ),
            None => None,
        };
        let http_addr = http.as_ref().and_then(|l| l.local_addr().ok());
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let config = withus::grpc::ServeConfig {
            tls,
            admin_id,
            limits,
            about,
            language,
            retention: withus::grpc::RetentionConfig {
                policy: retention,
                ..Default::default()
            },
            http,
            oidc,
            ..withus::grpc::ServeConfig::new(StoreConfig::new(&data))
        };
        let server = tokio::spawn(withus::grpc::run(
            listener,
            config,
            ready_tx,
            shutdown_signal(),
        ));
        if let Ok(ready) = ready_rx.await {
            println!("withus serving on {} (data {})", ready.addr, data.display());
            if let Some(addr) = http_addr {
                println!("HTTP on http://{addr} (/metrics, /healthz, /readyz; the person's own page at /)");
            }
            println!("verifier key: {}", ready.vkey);
            if let Some(token) = ready.admin_token {
                println!("admin token (shown once; keep it safe): {token}");
            }
        }
        server.await.context("server task")??;
        Ok(EXIT_OK)
    })
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    tracing::info!("shutdown requested: finishing in-flight calls");
}

fn rebuild(data: PathBuf, check: bool) -> anyhow::Result<u8> {
    use withus::service::ViewsFound;
    if !data.join("sled").exists() {
        anyhow::bail!("no withus store in {}", data.display());
    }
    let store = LogStore::open(StoreConfig::new(&data))?;
    let report = withus::service::rebuild_views_checked(&store)?;
    store.close()?;
    println!(
        "rebuilt views from {} entries; digest {}",
        report.applied,
        to_hex(&report.digest)
    );
    let same = match &report.found {
        ViewsFound::Missing => {
            println!("no views were persisted before");
            false
        }
        ViewsFound::OtherSchema(s) => {
            println!("the views found were of schema {s}; replaced");
            false
        }
        ViewsFound::Unreadable(why) => {
            println!("CHANGED: the views found were unreadable ({why})");
            false
        }
        ViewsFound::Loaded {
            saved_applied,
            first_difference: None,
        } => {
            println!("unchanged: the views found (saved at {saved_applied} entries, caught up to the end of the log) were identical");
            true
        }
        ViewsFound::Loaded {
            saved_applied,
            first_difference: Some(key),
        } => {
            println!("CHANGED: the views found (saved at {saved_applied} entries, caught up to the end of the log) differed from a replay, first at record {key}");
            false
        }
    };
    Ok(if check && !same {
        EXIT_VERIFY_FAILED
    } else {
        EXIT_OK
    })
}

fn progress_bar(len: u64) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "verifying {bar:40} {pos}/{len} entries ({per_sec}, eta {eta})",
    ) {
        bar.set_style(style);
    }
    bar
}

/// Prints the one-line summary and picks the exit code.
fn summarise(r: &VerifyReport) -> u8 {
    match &r.failure {
        None => {
            println!(
                "ok: verified {} entries; tree size {}, root {}; {} content segments",
                r.entries,
                r.size,
                to_hex(&r.root),
                r.contents
            );
            if r.derived_behind > 0 {
                println!(
                    "note: indexes and Merkle nodes do not cover the last {} entries yet (normal after a crash); \
                     they are re-derived when the store is next opened for writing",
                    r.derived_behind
                );
            }
            if r.uncommitted_salts > 0 {
                println!(
                    "note: {} salt slots belong to appends that never committed (normal after a crash); \
                     they are wiped when the store is next opened for writing",
                    r.uncommitted_salts
                );
            }
            EXIT_OK
        }
        Some(f) => {
            println!("FAILED: {f}");
            EXIT_VERIFY_FAILED
        }
    }
}
