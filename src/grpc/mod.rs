//! The gRPC layer (`withus.v1`): the only module that uses tonic and prost types. It
//! authenticates each call, translates requests into service calls and errors into statuses, and
//! runs the server with health and reflection.
//!
//! Owns: the wire API, the server's lifecycle (bind → NOT_SERVING → open the store and catch
//! up → SERVING → graceful shutdown → close; NOT_SERVING too once the store has failed) and its
//! transport limits ([`Limits`], [`MAX_REQUEST_BYTES`]). Must not touch: sled (the store does)
//! or domain rules (the service and the domain decide; this layer translates).

mod admin;
mod audit;
mod auth;
mod backup;
mod care;
pub mod client;
pub mod commands;
pub mod convert;
mod incoming;
mod observe;
mod record;
mod retention;
mod status;
mod wording;

use std::future::Future;
use std::io::Read as _;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic::Status;
use tonic_health::ServingStatus;

use crate::http::Readiness;
use crate::metrics::Metrics;
use crate::service::{Call, Service, ServiceError};
use crate::store::StoreConfig;

/// Generated messages, clients and servers of `proto/withus/v1`.
pub mod pb {
    tonic::include_proto!("withus.v1");

    /// The encoded descriptors of `withus.v1`, served by reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("withus_descriptor");
}

pub use admin::AdminApi;
pub use audit::AuditApi;
pub use care::CareApi;

/// The `withus.v1` services, by their health-check names.
pub const SERVICES: [&str; 15] = [
    "withus.v1.Admin",
    "withus.v1.Audit",
    "withus.v1.Support",
    "withus.v1.Meetings",
    "withus.v1.Notes",
    "withus.v1.Consent",
    "withus.v1.Safeguarding",
    "withus.v1.Records",
    "withus.v1.SubjectAccess",
    "withus.v1.Discussions",
    "withus.v1.Statements",
    "withus.v1.Groups",
    "withus.v1.Goals",
    "withus.v1.Authorities",
    "withus.v1.Retention",
];

/// How to serve. Plain data, passed explicitly.
pub struct ServeConfig {
    /// The store to open (after binding, so health can say NOT_SERVING meanwhile).
    pub store: StoreConfig,
    /// PEM certificate chain and private key files for TLS; `None` serves plain HTTP/2.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The id of the first admin, registered on the first start of an empty store.
    pub admin_id: String,
    /// What one client may hold of the server: connections, streams, time, header bytes.
    pub limits: Limits,
    /// The facts every subject access bundle states (`about`, sar-bundle.md §6):
    /// `withus serve --about FILE`, or the defaults.
    pub about: crate::sar::compose::About,
    /// The recovery-focused language list that prompts are drawn from (advisory; see
    /// `crate::language`): `withus serve --language FILE`, or withus' own.
    pub language: crate::language::LanguageList,
    /// The retention periods and how often the schedule runs: `withus serve --retention FILE`,
    /// or the NHS 2021 code's, daily.
    pub retention: RetentionConfig,
    /// The HTTP port (`/metrics`, `/healthz`, `/readyz`, the person's page), already bound: `withus serve --http
    /// ADDR`. `None` serves no HTTP.
    pub http: Option<TcpListener>,
    /// OpenID Connect sign-in beside bearer tokens (`withus serve --oidc FILE`); `None`: off.
    pub oidc: Option<crate::oidc::Verifier>,
}

impl ServeConfig {
    /// Serving `store` with the defaults of `withus serve`: plain HTTP/2, first admin `admin`,
    /// default limits, bundle facts, language list and retention. Set the other fields with
    /// struct update syntax.
    pub fn new(store: StoreConfig) -> ServeConfig {
        ServeConfig {
            store,
            tls: None,
            admin_id: "admin".into(),
            limits: Default::default(),
            about: Default::default(),
            language: Default::default(),
            retention: Default::default(),
            http: None,
            oidc: None,
        }
    }
}

/// The retention schedule the server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionConfig {
    pub policy: crate::domain::retention::Policy,
    /// How often it runs (the first run is one interval after the store opens);
    /// `Retention/Run` runs it at once.
    pub every: std::time::Duration,
}

impl Default for RetentionConfig {
    fn default() -> RetentionConfig {
        RetentionConfig {
            policy: Default::default(),
            every: std::time::Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// Transport limits: bounds on what clients can make the server hold. Plain data; the
/// defaults are what `withus serve` uses unless told otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most TCP connections served at once; further ones wait in the listen backlog until one
    /// closes (the server stops accepting, it does not refuse).
    pub max_connections: u32,
    /// Most concurrent HTTP/2 streams (calls) per connection, advertised to clients as
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`; a client queues calls beyond it.
    pub max_concurrent_streams: u32,
    /// Longest a call may take to produce its response headers: for a unary call, receiving the
    /// request and answering it. Streams (`Audit.Subscribe`, health `Watch`, reflection) answer
    /// their headers at once, so this never ends them.
    pub request_timeout: std::time::Duration,
    /// How long a new connection may take to send its first bytes (the HTTP/2 preface or the
    /// TLS hello); a connection that sends nothing is closed.
    pub handshake_timeout: std::time::Duration,
    /// Interval of HTTP/2 PING frames the server sends to find dead peers.
    pub keepalive_interval: std::time::Duration,
    /// How long a PING may go unanswered before the connection is closed.
    pub keepalive_timeout: std::time::Duration,
    /// Largest header list (all of a request's metadata) the server accepts, in bytes.
    pub max_header_list_bytes: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        use std::time::Duration;
        Limits {
            max_connections: 512,
            max_concurrent_streams: 100,
            request_timeout: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(60),
            keepalive_timeout: Duration::from_secs(20),
            max_header_list_bytes: 8 * 1024,
        }
    }
}

/// Largest request message the `withus.v1` services accept: a note at the domain's limits
/// (64 segments of 64 KiB of text) plus room for its ids and framing. gRPC's default of 4 MiB
/// could not carry one. (Health and reflection keep the default.)
pub const MAX_REQUEST_BYTES: usize =
    crate::domain::decide::MAX_SEGMENTS * crate::content::MAX_SEGMENT_BYTES + (1 << 20);

/// Reads a TLS file; the private key only if no one but its owner can read it (as the store's
/// checkpoint key): a key others can read is as good as published.
fn read_tls(path: &Path, private: bool) -> Result<Vec<u8>, ServeError> {
    let tls_err = |what: String| ServeError::Tls(format!("{}: {what}", path.display()));
    let mut f = std::fs::File::open(path).map_err(|e| tls_err(format!("cannot open: {e}")))?;
    if private {
        let mode = f
            .metadata()
            .map_err(|e| tls_err(format!("cannot stat: {e}")))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(tls_err(format!(
                "permissions {:o} let others read the private key; run `chmod 600` on it",
                mode & 0o777
            )));
        }
    }
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)
        .map_err(|e| tls_err(format!("cannot read: {e}")))?;
    Ok(bytes)
}

/// Sent once the store is open and the projections have caught up.
#[derive(Debug, Clone)]
pub struct Ready {
    /// Where the server listens.
    pub addr: SocketAddr,
    /// A new admin token, when no active admin had a valid one (the first start): shown once.
    pub admin_token: Option<String>,
    /// The verifier key of the log's checkpoints.
    pub vkey: String,
}

/// Why serving stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("could not open the store: {0}")]
    Open(#[from] ServiceError),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("reflection: {0}")]
    Reflection(String),
    #[error("{0}")]
    Task(String),
}

/// What every RPC handler shares: the service, once it is open.
pub(crate) struct Shared {
    /// Set once the store is open; until then calls are answered `UNAVAILABLE`.
    service: OnceLock<Arc<Service>>,
    /// Turns `true` when shutdown begins. Graceful shutdown waits for every call to finish, and
    /// a subscription never finishes by itself, so its task watches this and ends the stream.
    stopping: watch::Receiver<bool>,
    /// The language list prompts are drawn from (advice on the wire, never stored).
    language: crate::language::LanguageList,
    /// The server's metrics (subscriptions count themselves open here).
    metrics: Arc<Metrics>,
}

impl Shared {
    /// The service, or `UNAVAILABLE` while the store is still opening.
    pub(crate) fn service(&self) -> Result<Arc<Service>, Status> {
        self.service.get().cloned().ok_or_else(|| {
            status::with_reason(
                crate::domain::Code::Unavailable,
                "STARTING",
                "withus is starting: the store is opening and its views are catching up; retry shortly"
                    .into(),
            )
        })
    }
}

/// Whether the server has begun to shut down, for a stream's `poll_next`: drains the flag's
/// changes (registering the waker), and any `true`, or the flag's sender gone, means stop.
/// Checked before each item, so a client that does not read cannot hold the shutdown.
pub(crate) fn shutdown_begun(
    stopping: &mut tokio_stream::wrappers::WatchStream<bool>,
    cx: &mut std::task::Context<'_>,
) -> bool {
    use tokio_stream::Stream as _;
    while let std::task::Poll::Ready(flag) = std::pin::Pin::new(&mut *stopping).poll_next(cx) {
        match flag {
            Some(false) => continue,
            Some(true) | None => return true,
        }
    }
    false
}

/// Health of the server ("") and of every `withus.v1` service, all at once, as gRPC health
/// and the HTTP port's `/readyz` and `/healthz` report it.
struct Health {
    reporter: tonic_health::server::HealthReporter,
    readiness: watch::Sender<Readiness>,
}

impl Health {
    async fn set(&self, readiness: Readiness) {
        // Once stopping, nothing but stopping: a late failure report must not revive it.
        if *self.readiness.borrow() == Readiness::Stopping {
            return;
        }
        self.readiness.send_replace(readiness);
        let status = match readiness {
            Readiness::Serving => ServingStatus::Serving,
            Readiness::Starting | Readiness::Failed | Readiness::Stopping => {
                ServingStatus::NotServing
            }
        };
        self.reporter.set_service_status("", status).await;
        for name in SERVICES {
            self.reporter.set_service_status(name, status).await;
        }
    }
}

/// Serves `withus.v1`, health and reflection on `listener` until `shutdown` resolves, then lets
/// in-flight calls finish and closes the store (every acknowledged append is already durable;
/// the views are saved). `ready` is told once the store is open.
pub async fn run(
    listener: TcpListener,
    config: ServeConfig,
    ready: oneshot::Sender<Ready>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let addr = listener
        .local_addr()
        .map_err(|e| ServeError::Task(format!("listener address: {e}")))?;
    let (reporter, health_service) = tonic_health::server::health_reporter();
    let health = Arc::new(Health {
        reporter,
        readiness: watch::Sender::new(Readiness::Starting),
    });
    health.set(Readiness::Starting).await;
    let metrics = Metrics::new();
    let mut store_config = config.store;
    store_config.meter = Some(metrics.clone());

    // Both reflection versions describe the same services: ours and health.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_error =
        |e: tonic_reflection::server::Error| ServeError::Reflection(e.to_string());
    let reflection_v1 = reflection().build_v1().map_err(reflection_error)?;
    let reflection_v1alpha = reflection().build_v1alpha().map_err(reflection_error)?;

    let (stopping_tx, stopping) = watch::channel(false);
    let shared = Arc::new(Shared {
        service: OnceLock::new(),
        stopping,
        language: config.language,
        metrics: metrics.clone(),
    });
    let care = CareApi {
        shared: shared.clone(),
    };
    let limits = config.limits;
    let mut builder = Server::builder()
        .layer(observe::ObserveLayer {
            metrics: metrics.clone(),
        })
        .max_concurrent_streams(limits.max_concurrent_streams)
        .timeout(limits.request_timeout)
        .http2_keepalive_interval(Some(limits.keepalive_interval))
        .http2_keepalive_timeout(Some(limits.keepalive_timeout))
        .http2_max_header_list_size(limits.max_header_list_bytes);
    if let Some((cert, key)) = &config.tls {
        let identity = Identity::from_pem(read_tls(cert, false)?, read_tls(key, true)?);
        builder = builder
            .tls_config(ServerTlsConfig::new().identity(identity))
            .map_err(|e| ServeError::Tls(e.to_string()))?;
    }
    let router = builder
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(
            pb::audit_server::AuditServer::new(AuditApi {
                shared: shared.clone(),
            })
            .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(
            pb::admin_server::AdminServer::new(AdminApi {
                shared: shared.clone(),
            })
            .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(
            pb::support_server::SupportServer::new(care.clone())
                .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(
            pb::meetings_server::MeetingsServer::new(care.clone())
                .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(
            pb::notes_server::NotesServer::new(care.clone())
                .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(
            pb::consent_server::ConsentServer::new(care.clone())
                .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(
            pb::safeguarding_server::SafeguardingServer::new(care.clone())
                .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(
            pb::records_server::RecordsServer::new(care.clone())
                .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(
            pb::discussions_server::DiscussionsServer::new(care.clone())
                .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(
            pb::statements_server::StatementsServer::new(care.clone())
                .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(
            pb::groups_server::GroupsServer::new(care.clone())
                .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(
            pb::goals_server::GoalsServer::new(care.clone())
                .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(
            pb::authorities_server::AuthoritiesServer::new(care.clone())
                .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(
            pb::subject_access_server::SubjectAccessServer::new(care.clone())
                .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(
            pb::retention_server::RetentionServer::new(care)
                .max_decoding_message_size(MAX_REQUEST_BYTES),
        );

    // Stop serving on the caller's signal, or when opening the store failed. Then end the calls
    // that would otherwise never finish, so the graceful drain can: subscriptions (told where to
    // resume) and health watches (told NOT_SERVING, then their streams close).
    let (failed_tx, failed_rx) = oneshot::channel::<()>();
    let stop_health = health.clone();
    let stop = async move {
        tokio::select! {
            _ = shutdown => {}
            _ = failed_rx => {}
        }
        tracing::info!("ending subscriptions and health watches");
        let _ = stopping_tx.send(true);
        stop_health.set(Readiness::Stopping).await;
        let mut reporter = stop_health.reporter.clone();
        reporter.clear_service_status("").await;
        for name in SERVICES {
            reporter.clear_service_status(name).await;
        }
    };
    // Connections within `max_connections`, each handshaking in time, TCP_NODELAY set.
    let incoming = incoming::incoming(listener, limits.max_connections, limits.handshake_timeout);
    let server = tokio::spawn(router.serve_with_incoming_shutdown(incoming, stop));
    // The HTTP port answers from now on too (`/readyz`: 503 until the store is open).
    let http = config.http.map(|listener| {
        let person_shared = Arc::clone(&shared);
        let shared = Arc::clone(&shared);
        let sample = Arc::new(move || {
            shared
                .service
                .get()
                .map(|s| s.store_sample())
                .unwrap_or_default()
        });
        let service: crate::http::ServiceSlot =
            Arc::new(move || person_shared.service.get().cloned());
        tokio::spawn(crate::http::serve(
            listener,
            metrics.clone(),
            sample,
            health.readiness.subscribe(),
            service,
        ))
    });

    // Open the store (blocking work) while health already answers NOT_SERVING.
    let store = store_config;
    let opened = tokio::task::spawn_blocking(move || Service::open(store))
        .await
        .map_err(|e| ServeError::Task(format!("opening the store: {e}")))?;
    let service = match opened {
        Ok(s) => {
            s.set_about(config.about);
            s.set_retention(config.retention.policy);
            s.set_metrics(metrics.clone());
            s.set_oidc(config.oidc);
            Arc::new(s)
        }
        Err(e) => {
            let _ = failed_tx.send(());
            let _ = server.await;
            stop_http(http).await;
            return Err(e.into());
        }
    };
    let admin_token = match ensure_admin_token(&service, &config.admin_id).await {
        Ok(t) => t,
        Err(e) => {
            let _ = failed_tx.send(());
            let _ = server.await;
            stop_http(http).await;
            return Err(e.into());
        }
    };
    let vkey = service
        .store()
        .vkey()
        .map_err(|e| ServeError::Open(e.into()))?;
    let _ = shared.service.set(service.clone());
    health.set(Readiness::Serving).await;
    tracing::info!(%addr, "serving");
    // Health follows the store: once a storage failure has poisoned it (every write refused
    // until restart), NOT_SERVING, so whatever routes by health stops sending calls here.
    let mut failure = service.store().failure_watch();
    let mut stopped = shared.stopping.clone();
    let failure_health = health.clone();
    tokio::spawn(async move {
        let why = tokio::select! {
            failed = failure.wait_for(Option::is_some) => match failed {
                Ok(why) => why.clone().unwrap_or_default(),
                Err(_) => return, // the store is gone: the server is stopping
            },
            _ = stopped.wait_for(|s| *s) => return,
        };
        tracing::error!(
            error = %why,
            "the store has failed and refuses every write until the server is restarted; \
             health is NOT_SERVING"
        );
        failure_health.set(Readiness::Failed).await;
    });
    // The retention schedule, daily (the clock it decides by is the store's, so tests that
    // control the clock call `Retention/Run` instead of waiting).
    let mut stopped = shared.stopping.clone();
    let scheduled = service.clone();
    let every = config.retention.every;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopped.wait_for(|s| *s) => return,
            }
            match scheduled.run_retention().await {
                Ok(run) => tracing::info!(people = run.erased.len(), "retention schedule ran"),
                Err(e) => {
                    tracing::error!(error = %e, "the retention schedule failed; it runs again at its next interval")
                }
            }
        }
    });
    let _ = ready.send(Ready {
        addr,
        admin_token,
        vkey,
    });

    let served = server
        .await
        .map_err(|e| ServeError::Task(format!("server task: {e}")))?;
    drop(failed_tx);
    stop_http(http).await;
    // In-flight calls have finished; the handlers' clones of the service are gone or going.
    drop(shared);
    let close = tokio::task::spawn_blocking(move || match Arc::try_unwrap(service) {
        Ok(s) => s.close(),
        // A subscription task may still hold it for a moment; its store closes on drop, and
        // every acknowledged append is already durable. Save the views now.
        Err(s) => s.flush_views(),
    });
    close
        .await
        .map_err(|e| ServeError::Task(format!("closing: {e}")))??;
    served?;
    tracing::info!("stopped");
    Ok(())
}

/// Waits for the HTTP port to finish its requests in flight (it stops once readiness says
/// stopping); a failure of its own is logged, never the server's.
async fn stop_http(http: Option<tokio::task::JoinHandle<std::io::Result<()>>>) {
    if let Some(task) = http {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "the HTTP port failed"),
            Err(e) => tracing::error!(error = %e, "the HTTP port's task failed"),
        }
    }
}

/// On the first start (or whenever no active admin has a valid token, e.g. the process died
/// between registering the first admin and issuing its token), registers the first admin if
/// needed and issues a token for an active admin. Returns it so it can be shown once.
async fn ensure_admin_token(
    service: &Service,
    admin_id: &str,
) -> Result<Option<String>, ServiceError> {
    service.bootstrap_admin(admin_id, "Administrator").await?;
    let p = service.projections()?;
    let now = service.now();
    let admins = p.active_admins();
    let has_token = p.tokens.values().any(|t| {
        admins.contains(&t.actor.as_str())
            && t.revoked_at.is_none()
            && t.expires_at.is_none_or(|e| now < e)
    });
    if has_token {
        return Ok(None);
    }
    let Some(admin) = admins.first() else {
        return Ok(None);
    };
    let (token, _) = service
        .issue_token(admin, Call::default(), admin, None)
        .await?;
    Ok(Some(token))
}
