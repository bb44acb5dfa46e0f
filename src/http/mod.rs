//! The HTTP port (`withus serve --http ADDR`, off unless given): what operators' tools read
//! over plain HTTP/1.1 — `GET /metrics` (OpenMetrics text, for Prometheus), `GET /healthz`
//! (liveness) and `GET /readyz` (readiness, mirroring gRPC health) — and the person's own page
//! from `/` ([`person`]: sign-in, their record, who looked at it, discussions about them, asking
//! for a copy, checking it).
//!
//! Owns: the routes and their HTTP answers, and the port's lifecycle (it answers from the
//! moment the server binds, before the store is open, and stops with the gRPC server). Must
//! not touch: sled, domain rules or permission decisions. The operators' routes say nothing
//! about anyone (metrics labels come from closed sets, see `crate::metrics`); the person's page
//! shows a signed-in person their own record only through the same [`Service`] calls the gRPC
//! API makes, so the same permission decisions (`crate::domain::access`) and the same logging
//! of reads apply.

mod person;
mod sessions;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::metrics::{Metrics, StoreSample};
#[cfg(doc)]
use crate::service::Service;

pub(crate) use person::ServiceSlot;

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
        "not found: this port serves /metrics, /healthz, /readyz and the person's own page at /\n",
    )
        .into_response()
}

/// Serves the port on `listener` until `readiness` turns [`Readiness::Stopping`] (or its
/// sender is gone), then lets requests in flight finish. `service` gives the service once the
/// store is open (the person's page answers "starting" until then).
pub(crate) async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    sample: Arc<dyn Fn() -> StoreSample + Send + Sync>,
    readiness: watch::Receiver<Readiness>,
    service: ServiceSlot,
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
        .with_state(port)
        .merge(person::routes(service))
        .fallback(not_found);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stopping.wait_for(|r| *r == Readiness::Stopping).await;
        })
        .await
}
