//! One place that sees every call: a tower layer around all of the server's services that opens
//! a `tracing` span per RPC (`rpc{method, role, code, latency_ms}`) and counts the call in the
//! server's metrics when its status is known.
//!
//! Owns: which method a request path names (the closed set of methods the served protos
//! declare; anything else is `unknown`, so a client cannot add label values), and when a call
//! ends — its trailers-only headers, the trailers after its messages, or the client going away
//! (`CANCELLED`). Must not touch: requests' or responses' messages (no content, no token is ever
//! read here); the caller's role is recorded by `auth::actor`, which knows it.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use http_body::{Body, Frame, SizeHint};
use prost::Message as _;

use crate::metrics::{status_code_name, Metrics};

/// Every method the server serves, from the descriptors it serves by reflection: request path
/// (`/withus.v1.Notes/Draft`) → label (`withus.v1.Notes/Draft`). Built once per
/// process; the names live as long as it (a few hundred bytes).
fn known_methods() -> &'static HashMap<&'static str, &'static str> {
    static METHODS: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    METHODS.get_or_init(|| {
        let mut names: Vec<String> = Vec::new();
        for encoded in [
            super::pb::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
        ] {
            // Our own build's descriptors: they decode, or the build itself is broken.
            let Ok(set) = prost_types::FileDescriptorSet::decode(encoded) else {
                tracing::error!("the served descriptors do not decode; calls are labelled unknown");
                continue;
            };
            for file in set.file {
                let package = file.package.unwrap_or_default();
                for service in file.service {
                    let service_name = service.name.unwrap_or_default();
                    for method in service.method {
                        names.push(format!(
                            "{package}.{service_name}/{}",
                            method.name.unwrap_or_default()
                        ));
                    }
                }
            }
        }
        for version in ["v1", "v1alpha"] {
            names.push(format!(
                "grpc.reflection.{version}.ServerReflection/ServerReflectionInfo"
            ));
        }
        names
            .into_iter()
            .map(|name| {
                let path: &'static str = Box::leak(format!("/{name}").into_boxed_str());
                (path, &path[1..])
            })
            .collect()
    })
}

/// The metrics label and span field of a request path.
fn method_of(path: &str) -> &'static str {
    known_methods().get(path).copied().unwrap_or("unknown")
}

/// Wraps every service of the server in [`Observe`].
#[derive(Clone)]
pub struct ObserveLayer {
    pub metrics: Arc<Metrics>,
}

impl<S> tower_layer::Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// See the module's documentation.
#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

/// One call in flight: finished once, with its status code, or as `CANCELLED` when dropped
/// before its status was seen (the client reset the stream or went away).
struct Call {
    method: &'static str,
    started: Instant,
    span: tracing::Span,
    metrics: Arc<Metrics>,
    finished: bool,
}

impl Call {
    fn finish(&mut self, code: i32) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        let elapsed = self.started.elapsed();
        let name = status_code_name(code);
        self.metrics.call_finished(self.method, name, elapsed);
        self.span.record("code", name);
        self.span
            .record("latency_ms", elapsed.as_secs_f64() * 1000.0);
        // UNKNOWN, INTERNAL, DATA_LOSS: the server's own failure, worth an operator's look.
        // Everything else (refusals, bad input, UNAVAILABLE while starting) is the protocol
        // working, visible at debug.
        if matches!(code, 2 | 13 | 15) {
            tracing::warn!(parent: &self.span, "call failed");
        } else {
            tracing::debug!(parent: &self.span, "call");
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.finish(1);
    }
}

/// The status code in a header map (`grpc-status`), if there is one.
fn grpc_status(headers: &http::HeaderMap) -> Option<i32> {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

impl<S, RequestBody, ResponseBody> tower_service::Service<http::Request<RequestBody>> for Observe<S>
where
    S: tower_service::Service<http::Request<RequestBody>, Response = http::Response<ResponseBody>>,
{
    type Response = http::Response<ObservedBody<ResponseBody>>;
    type Error = S::Error;
    type Future = ObservedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<RequestBody>) -> Self::Future {
        let method = method_of(request.uri().path());
        let span = tracing::info_span!(
            "rpc",
            method,
            role = tracing::field::Empty,
            code = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        let inner = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        ObservedFuture {
            inner,
            call: Some(Call {
                method,
                started: Instant::now(),
                span,
                metrics: self.metrics.clone(),
                finished: false,
            }),
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner service's future, polled inside the call's span.
    pub struct ObservedFuture<F> {
        #[pin]
        inner: F,
        call: Option<Call>,
    }
}

impl<F, ResponseBody, E> Future for ObservedFuture<F>
where
    F: Future<Output = Result<http::Response<ResponseBody>, E>>,
{
    type Output = Result<http::Response<ObservedBody<ResponseBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let polled = match this.call {
            Some(call) => {
                let _entered = call.span.enter();
                this.inner.poll(cx)
            }
            None => this.inner.poll(cx),
        };
        let Poll::Ready(result) = polled else {
            return Poll::Pending;
        };
        let mut call = this.call.take();
        Poll::Ready(match result {
            Ok(response) => {
                // A trailers-only response (every refusal): the status is in the headers.
                if let (Some(code), Some(call)) = (grpc_status(response.headers()), &mut call) {
                    call.finish(code);
                }
                Ok(response.map(|inner| ObservedBody { inner, call }))
            }
            Err(e) => {
                if let Some(call) = &mut call {
                    call.finish(2);
                }
                Err(e)
            }
        })
    }
}

pin_project_lite::pin_project! {
    /// The response body: the call ends at its trailers (or its end without any: UNKNOWN).
    pub struct ObservedBody<B> {
        #[pin]
        inner: B,
        call: Option<Call>,
    }
}

impl<B: Body> Body for ObservedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = match this.call.as_ref().filter(|c| !c.finished) {
            Some(call) => {
                let _entered = call.span.enter();
                this.inner.poll_frame(cx)
            }
            None => this.inner.poll_frame(cx),
        };
        if let Some(call) = this.call.as_mut() {
            match &polled {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(trailers) = frame.trailers_ref() {
                        call.finish(grpc_status(trailers).unwrap_or(2));
                    }
                }
                Poll::Ready(Some(Err(_))) => call.finish(13),
                Poll::Ready(None) => call.finish(2),
                Poll::Pending => {}
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_methods_have_their_names_and_nothing_else_does() {
        assert_eq!(method_of("/withus.v1.Notes/Draft"), "withus.v1.Notes/Draft");
        assert_eq!(
            method_of("/grpc.health.v1.Health/Check"),
            "grpc.health.v1.Health/Check"
        );
        assert_eq!(
            method_of("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"),
            "grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
        );
        assert_eq!(method_of("/withus.v1.Notes/pw-amara"), "unknown");
        assert_eq!(method_of("/anything"), "unknown");
        // Every service the server reports health for has its methods listed.
        for service in super::super::SERVICES {
            assert!(
                known_methods()
                    .values()
                    .any(|m| m.starts_with(&format!("{service}/"))),
                "{service}"
            );
        }
    }
}
