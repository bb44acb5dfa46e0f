//! The HTTP port (`withus serve --http ADDR`, off unless given): what operators' tools read
//! over plain HTTP/1.1 — `GET /metrics` (OpenMetrics text, for Prometheus), `GET /healthz`
//! (liveness) and `GET /readyz` (readiness, mirroring gRPC health).
//!
//! Owns: the routes and their HTTP answers, and the port's lifecycle (it answers from the
//! moment the server binds, before the store is open, and stops with the gRPC server). Must
//! not touch: sled, domain rules, or anything about a person — nothing served here is about
//! anyone (metrics labels come from closed sets, see `crate::metrics`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::metrics::{Metrics, StoreSample};

/// Where the server is in its life, as health reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Bound, the store opening and its views catching up: NOT_SERVING, alive.
    Starting,
    /// SERVING.
    Serving,
    /// The store has failed and refuses every write until a restart: NOT_SERVING, and not
    /// alive either — restarting is what mends it.
    Failed,
    /// Shutting down: NOT_SERVING.
    Stopping,
}

/// What the routes read.
#[derive(Clone)]
struct Port {
    metrics: Arc<Metrics>,
    /// The store's gauges now (all zero until the store is open).
    sample: Arc<dyn Fn() -> StoreSample + Send + Sync>,
    readiness: watch::Receiver<Readiness>,
}

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PLAIN: &str = "text/plain; charset=utf-8";

async fn scrape(State(port): State<Port>) -> Response {
    let text = port.metrics.render((port.sample)());
    ([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response()
}

/// Liveness: 200 unless the store has failed (then only a restart helps).
async fn healthz(State(port): State<Port>) -> Response {
    let readiness = *port.readiness.borrow();
    if readiness == Readiness::Failed {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, PLAIN)],
            "failed: the store refuses every write until the server is restarted\n",
        )
            .into_response();
    }
    ([(header::CONTENT_TYPE, PLAIN)], "ok\n").into_response()
}

/// Readiness: 200 exactly when gRPC health says SERVING.
async fn readyz(State(port): State<Port>) -> Response {
    let (code, body) = match *port.readiness.borrow() {
        Readiness::Serving => (StatusCode::OK, "serving\n"),
        Readiness::Starting => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not serving: the store is opening and its views are catching up\n",
        ),
        Readiness::Failed => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not serving: the store has failed; restart the server\n",
        ),
        Readiness::Stopping => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not serving: shutting down\n",
        ),
    };
    (code, [(header::CONTENT_TYPE, PLAIN)], body).into_response()
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, PLAIN)],
        "not found: this port serves /metrics, /healthz and /readyz\n",
    )
        .into_response()
}

/// Serves the port on `listener` until `readiness` turns [`Readiness::Stopping`] (or its
/// sender is gone), then lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    sample: Arc<dyn Fn() -> StoreSample + Send + Sync>,
    readiness: watch::Receiver<Readiness>,
) -> std::io::Result<()> {
    let mut stopping = readiness.clone();
    let port = Port {
        metrics,
        sample,
        readiness,
    };
    let app = Router::new()
        .route("/metrics", get(scrape))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .with_state(port);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stopping.wait_for(|r| *r == Readiness::Stopping).await;
        })
        .await
}
