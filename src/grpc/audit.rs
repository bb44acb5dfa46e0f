//! The `withus.v1.Audit` service: checkpoints, proofs, entries (metadata only — entries hold no
//! content), verification, compliance flags and a live subscription, which lasts only as long
//! as its caller's token and actor stay valid.

use std::pin::Pin;
use std::sync::Arc;

use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::auth::actor;
use super::convert::{optional_timestamp, page, page_size_of, page_token, timestamp, to_wire};
use super::pb;
use super::status::{status, store_status};
use super::Shared;
use crate::domain::access::{self, AuditRead};
use crate::domain::projection::ActorRec;
use crate::domain::Code;
use crate::format::to_hex;
use crate::service::Service;
use crate::store::{LogStore, StoredEntry};

/// Entries a subscription reads from the store at a time.
const SUBSCRIBE_CHUNK: u64 = 256;
/// Entries buffered per subscriber: the server reads no further ahead of a slow client.
const SUBSCRIBE_BUFFER: usize = 64;

/// A subscriber's stream: the entries the reading task sends, until the server begins to shut
/// down; then one `UNAVAILABLE` naming the first seq this subscriber has not received (entries
/// still buffered are dropped, the client resumes from them), and the end. The task
/// authenticates the caller again before each chunk it reads; once its token is revoked or
/// expired, or its actor deactivated, it sends `UNAUTHENTICATED` instead, and the stream ends.
struct Subscription {
    /// Entries (or a read failure) from the task that reads the store.
    entries: tokio_stream::wrappers::ReceiverStream<Result<pb::Entry, Status>>,
    /// The server's shutdown flag; checked before each entry so a slow client does not delay
    /// shutdown by the entries buffered for it.
    stopping: tokio_stream::wrappers::WatchStream<bool>,
    /// The seq of the next entry to yield: where to resume.
    next: u64,
    /// Set once the final status is yielded.
    done: bool,
}

impl Stream for Subscription {
    type Item = Result<pb::Entry, Status>;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        if self.done {
            return Poll::Ready(None);
        }
        if super::shutdown_begun(&mut self.stopping, cx) {
            self.done = true;
            return Poll::Ready(Some(Err(super::status::with_reason(
                Code::Unavailable,
                "SHUTTING_DOWN",
                format!(
                    "the server is shutting down; subscribe again with from_seq {} to continue \
                     where this stream stopped",
                    self.next
                ),
            ))));
        }
        let polled = Pin::new(&mut self.entries).poll_next(cx);
        if let Poll::Ready(Some(Ok(e))) = &polled {
            self.next = e.seq.saturating_add(1);
        }
        polled
    }
}

pub struct AuditApi {
    pub(super) shared: Arc<Shared>,
}

/// What the access module says of an audit-side read by `a`.
fn allow(a: &ActorRec, what: AuditRead) -> Result<(), Status> {
    access::decide_audit(a, what).map_err(|r| status(r.into()))
}

fn entry_message(e: &StoredEntry) -> Result<pb::Entry, Status> {
    let v = e.view().map_err(|e| Status::data_loss(e.to_string()))?;
    Ok(pb::Entry {
        seq: e.seq,
        at: crate::domain::types::Time::parse(&v.at).map(timestamp),
        r#type: v.event_type.to_string(),
        v: v.v,
        stream: v.stream.to_string(),
        version: v.version,
        subject: v.subject.as_deref().unwrap_or("").to_string(),
        actor_id: v.actor_id.to_string(),
        actor_role: v.actor_role.to_string(),
        command: v.command.as_deref().unwrap_or("").to_string(),
        leaf_hash: to_hex(&e.leaf_hash()),
        json: String::from_utf8_lossy(&e.bytes).into_owned(),
    })
}

fn size_or_current(store: &LogStore, n: u64) -> u64 {
    if n == 0 {
        store.size()
    } else {
        n
    }
}

impl AuditApi {
    async fn who<T>(&self, r: &Request<T>) -> Result<(Arc<Service>, ActorRec), Status> {
        let svc = self.shared.service()?;
        let a = actor(&svc, r).await?;
        Ok((svc, a))
    }
}

#[tonic::async_trait]
impl pb::audit_server::Audit for AuditApi {
    async fn get_checkpoint(
        &self,
        r: Request<pb::GetCheckpointRequest>,
    ) -> Result<Response<pb::Checkpoint>, Status> {
        let (svc, _) = self.who(&r).await?;
        let store = svc.store();
        let note = store.checkpoint().map_err(store_status)?;
        // The note's second line is the size it signs; read it back so the fields agree.
        let tree_size = note
            .lines()
            .nth(1)
            .and_then(|l| l.parse().ok())
            .ok_or_else(|| Status::internal("checkpoint without a size line"))?;
        Ok(Response::new(pb::Checkpoint {
            tree_size,
            root_hash: to_hex(&store.root(tree_size).map_err(store_status)?),
            vkey: store.vkey().map_err(store_status)?,
            note,
        }))
    }

    async fn get_inclusion_proof(
        &self,
        r: Request<pb::GetInclusionProofRequest>,
    ) -> Result<Response<pb::InclusionProof>, Status> {
        let (svc, _) = self.who(&r).await?;
        let store = svc.store();
        let req = r.into_inner();
        let n = size_or_current(store, req.tree_size);
        let hashes = store.inclusion_proof(req.seq, n).map_err(store_status)?;
        Ok(Response::new(pb::InclusionProof {
            seq: req.seq,
            tree_size: n,
            leaf_hash: to_hex(&store.leaf_hash(req.seq).map_err(store_status)?),
            hashes: hashes.iter().map(to_hex).collect(),
            root_hash: to_hex(&store.root(n).map_err(store_status)?),
        }))
    }

    async fn get_consistency_proof(
        &self,
        r: Request<pb::GetConsistencyProofRequest>,
    ) -> Result<Response<pb::ConsistencyProof>, Status> {
        let (svc, _) = self.who(&r).await?;
        let store = svc.store();
        let req = r.into_inner();
        let to = size_or_current(store, req.to_size);
        let hashes = store
            .consistency_proof(req.from_size, to)
            .map_err(store_status)?;
        Ok(Response::new(pb::ConsistencyProof {
            from_size: req.from_size,
            to_size: to,
            hashes: hashes.iter().map(to_hex).collect(),
        }))
    }

    async fn list_entries(
        &self,
        r: Request<pb::ListEntriesRequest>,
    ) -> Result<Response<pb::ListEntriesResponse>, Status> {
        let (svc, a) = self.who(&r).await?;
        allow(&a, AuditRead::ListEntries)?;
        let req = r.into_inner();
        let limit = u64::try_from(page_size_of(req.page_size)?).unwrap_or(u64::MAX);
        let from = if req.page_token.is_empty() {
            req.from_seq
        } else {
            page(0, &req.page_token)?
                .after
                .map_or(0, |seq| seq.saturating_add(1))
        };
        let store = svc.store();
        let size = store.size();
        let to = from.saturating_add(limit).min(size);
        let entries = store
            .entries(from, to)
            .map(|e| entry_message(&e.map_err(store_status)?))
            .collect::<Result<Vec<_>, _>>()?;
        let next_page_token = if to < size && to > from {
            page_token(to - 1)
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListEntriesResponse {
            entries,
            tree_size: size,
            next_page_token,
        }))
    }

    async fn verify(
        &self,
        r: Request<pb::VerifyRequest>,
    ) -> Result<Response<pb::VerifyReport>, Status> {
        let (svc, a) = self.who(&r).await?;
        allow(&a, AuditRead::Verify)?;
        // Verification is CPU-bound for seconds on a large store: off the async workers.
        let report = tokio::task::spawn_blocking(move || svc.store().verify(&mut |_, _| {}))
            .await
            .map_err(|e| Status::internal(format!("verify task: {e}")))?
            .map_err(store_status)?;
        Ok(Response::new(pb::VerifyReport {
            ok: report.failure.is_none(),
            entries: report.entries,
            tree_size: report.size,
            root_hash: to_hex(&report.root),
            content_segments: report.contents,
            failed_seq: report.failure.as_ref().and_then(|f| f.seq),
            failure: report
                .failure
                .as_ref()
                .map(|f| f.to_string())
                .unwrap_or_default(),
        }))
    }

    async fn compliance_flags(
        &self,
        r: Request<pb::ComplianceFlagsRequest>,
    ) -> Result<Response<pb::ComplianceFlagsResponse>, Status> {
        let (svc, a) = self.who(&r).await?;
        let flags = svc.compliance_flags(&a.id).map_err(status)?;
        Ok(Response::new(pb::ComplianceFlagsResponse {
            flags: flags
                .into_iter()
                .map(|f| pb::Flag {
                    kind: to_wire::<pb::FlagKind>(f.kind),
                    subject: f.subject,
                    item: f.item,
                    due_at: Some(timestamp(f.due_at)),
                    done_at: optional_timestamp(f.done_at),
                    detail: f.detail,
                })
                .collect(),
        }))
    }

    type SubscribeStream = Pin<Box<dyn Stream<Item = Result<pb::Entry, Status>> + Send>>;

    async fn subscribe(
        &self,
        r: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let (svc, a) = self.who(&r).await?;
        allow(&a, AuditRead::Subscribe)?;
        let token = super::auth::token(&r)?.to_string();
        let from = r.into_inner().from_seq;
        let mut next = from;
        let (tx, rx) = tokio::sync::mpsc::channel(SUBSCRIBE_BUFFER);
        let mut committed = svc.store().size_watch();
        let mut stopping = self.shared.stopping.clone();
        let open = self.shared.metrics.subscription_opened();
        tokio::spawn(async move {
            // Counted open until this task ends (the client left, shutdown, or a refusal).
            let _open = open;
            loop {
                let size = svc.store().size();
                if next < size {
                    // Still allowed? Checked after reading `size`: every entry below it was
                    // applied to the projections before this check (invariant 14), so no entry
                    // committed after a revocation, expiry or deactivation is ever sent.
                    let still = match svc.authenticate(&token).await {
                        Ok(a) => allow(&a, AuditRead::Subscribe),
                        Err(e) => Err(status(e)),
                    };
                    if let Err(refused) = still {
                        tokio::select! {
                            _ = tx.send(Err(refused)) => {}
                            _ = stopping.wait_for(|s| *s) => {}
                        }
                        return;
                    }
                    let to = next.saturating_add(SUBSCRIBE_CHUNK).min(size);
                    let batch: Vec<Result<pb::Entry, Status>> = svc
                        .store()
                        .entries(next, to)
                        .map(|e| e.map_err(store_status).and_then(|e| entry_message(&e)))
                        .collect();
                    for item in batch {
                        let failed = item.is_err();
                        // `send` waits while the client is behind: that is the backpressure.
                        tokio::select! {
                            sent = tx.send(item) => if sent.is_err() || failed {
                                return; // client gone, or a read failed and was reported
                            },
                            _ = stopping.wait_for(|s| *s) => return,
                        }
                    }
                    next = to;
                    continue;
                }
                // Caught up: wait for the next commit, the client leaving, or shutdown.
                tokio::select! {
                    changed = committed.changed() => if changed.is_err() { return },
                    _ = stopping.wait_for(|s| *s) => return,
                    _ = tx.closed() => return,
                }
            }
        });
        Ok(Response::new(Box::pin(Subscription {
            entries: tokio_stream::wrappers::ReceiverStream::new(rx),
            stopping: tokio_stream::wrappers::WatchStream::new(self.shared.stopping.clone()),
            next: from,
            done: false,
        })))
    }

    type ExportLogStream = super::backup::ChunkStream<pb::ExportLogChunk>;

    async fn export_log(
        &self,
        r: Request<pb::ExportLogRequest>,
    ) -> Result<Response<Self::ExportLogStream>, Status> {
        let (svc, a) = self.who(&r).await?;
        allow(&a, AuditRead::ExportLog)?;
        let stream = super::backup::export_log(svc, self.shared.stopping.clone(), r.into_inner())?;
        Ok(Response::new(stream))
    }
}
