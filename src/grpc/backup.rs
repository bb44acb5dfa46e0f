//! The two calls that stream a fixed prefix of the log: `Admin.Backup` (the backup file of
//! `crate::backup`, chunk by chunk) and `Audit.ExportLog` (entries' exact bytes with the
//! checkpoint of their tree size). Both fix the tree size `N` when the call starts and read only
//! what is below it, while appends go on; both stop with UNAVAILABLE if the server begins to
//! shut down (invariant 15). The access module decides who may (`AuditRead::Backup`,
//! `AuditRead::ExportLog`).

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio_stream::Stream;
use tonic::Status;

use super::pb;
use super::status::{refuse, store_status};
use crate::backup::{self, Encoder, Header, KeyMaterial, Record, RECORD_TARGET};
use crate::domain::Code;
use crate::format::to_hex;
use crate::service::Service;
use crate::store::{segment_commits, LogStore, StoreError};

/// Chunks buffered ahead of a slow client.
const BUFFER: usize = 4;
/// Request digests per `Requests` record (40 bytes each).
const REQUESTS_PER_RECORD: usize = 8192;

pub type ChunkStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// Sends from a blocking thread; `Err(())` once the client is gone or the server is stopping
/// (after telling the client so).
struct Sender<T> {
    tx: mpsc::Sender<Result<T, Status>>,
    stopping: watch::Receiver<bool>,
    what: &'static str,
    runtime: tokio::runtime::Handle,
}

impl<T> Sender<T> {
    /// Waits while the client is behind (backpressure), but never past the start of shutdown:
    /// then the stream ends with UNAVAILABLE (or, if the client's buffer is full, just ends —
    /// which the client sees as a stream without its last chunk).
    fn send(&self, item: T) -> Result<(), ()> {
        let stopped = || {
            let _ = self.tx.try_send(Err(Status::unavailable(format!(
                "the server is shutting down; the {} is incomplete: ask again once it is back",
                self.what
            ))));
            Err(())
        };
        if *self.stopping.borrow() {
            return stopped();
        }
        let mut stopping = self.stopping.clone();
        self.runtime.block_on(async {
            tokio::select! {
                sent = self.tx.send(Ok(item)) => sent.map_err(|_| ()),
                _ = stopping.wait_for(|s| *s) => stopped(),
            }
        })
    }

    fn fail(&self, s: Status) {
        let mut stopping = self.stopping.clone();
        self.runtime.block_on(async {
            tokio::select! {
                _ = self.tx.send(Err(s)) => {}
                _ = stopping.wait_for(|s| *s) => {}
            }
        });
    }
}

fn spawn<T: Send + 'static>(
    stopping: watch::Receiver<bool>,
    what: &'static str,
    work: impl FnOnce(&Sender<T>) -> Result<(), Status> + Send + 'static,
) -> ChunkStream<T> {
    let (tx, rx) = mpsc::channel(BUFFER);
    let sender = Sender {
        tx,
        stopping,
        what,
        runtime: tokio::runtime::Handle::current(),
    };
    let stop = tokio_stream::wrappers::WatchStream::new(sender.stopping.clone());
    tokio::task::spawn_blocking(move || {
        if let Err(s) = work(&sender) {
            sender.fail(s);
        }
    });
    Box::pin(Stoppable {
        chunks: tokio_stream::wrappers::ReceiverStream::new(rx),
        stopping: stop,
        what,
        done: false,
    })
}

/// The chunks, until the server begins to shut down: then one UNAVAILABLE and the end, dropping
/// what is buffered, so a client that does not read cannot hold the shutdown (as subscriptions).
struct Stoppable<T> {
    chunks: tokio_stream::wrappers::ReceiverStream<Result<T, Status>>,
    stopping: tokio_stream::wrappers::WatchStream<bool>,
    what: &'static str,
    done: bool,
}

impl<T> Stream for Stoppable<T> {
    type Item = Result<T, Status>;

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
                    "the server is shutting down; the {} is incomplete: ask again once it is back",
                    self.what
                ),
            ))));
        }
        Pin::new(&mut self.chunks).poll_next(cx)
    }
}

/// `Admin.Backup`, after the caller was allowed.
pub(super) fn backup(
    svc: Arc<Service>,
    stopping: watch::Receiver<bool>,
    req: pb::BackupRequest,
) -> Result<ChunkStream<pb::BackupChunk>, Status> {
    if req.with_keys && req.passphrase.chars().count() < backup::MIN_PASSPHRASE_CHARS {
        return Err(refuse(
            Code::InvalidArgument,
            "passphrase",
            &format!(
                "with_keys needs a passphrase of at least {} characters to seal the keys to",
                backup::MIN_PASSPHRASE_CHARS
            ),
        ));
    }
    if !req.with_keys && !req.passphrase.is_empty() {
        return Err(refuse(
            Code::InvalidArgument,
            "passphrase",
            "a passphrase is only for with_keys: set with_keys, or send no passphrase",
        ));
    }
    let store_of = Arc::clone(&svc);
    let n = store_of.store().size();
    Ok(spawn(stopping, "backup", move |out| {
        write_backup(&svc, n, &req, &mut |data, last| {
            out.send(pb::BackupChunk {
                data,
                tree_size: n,
                last,
            })
        })
    }))
}

fn write_backup(
    svc: &Service,
    n: u64,
    req: &pb::BackupRequest,
    send: &mut dyn FnMut(Vec<u8>, bool) -> Result<(), ()>,
) -> Result<(), Status> {
    let store: &LogStore = svc.store();
    let root = store.root(n).map_err(store_status)?;
    let header = Header {
        origin: store.origin().to_string(),
        tree_size: n,
        root: to_hex(&root),
        vkey: store.vkey().map_err(store_status)?,
        taken_at: svc.now().to_string(),
        with_keys: req.with_keys,
    };
    let header_bytes = header.to_bytes();
    let mut enc = Encoder::default();
    let mut first = backup::preamble();
    first.extend(enc.encode(&Record::Header(header_bytes.clone())));
    first.extend(enc.encode(&Record::Checkpoint(
        store.checkpoint_at(n).map_err(store_status)?,
    )));
    if req.with_keys {
        let keys = KeyMaterial {
            checkpoint_seed: store.key_seed().map_err(store_status)?,
        };
        let random = crate::store::fresh_seed().map_err(store_status)?;
        let (salt, nonce) = (&random[..16], &random[16..28]);
        let sealed = backup::seal_keys(
            &req.passphrase,
            &keys,
            &header_bytes,
            salt.try_into().unwrap_or_default(),
            nonce.try_into().unwrap_or_default(),
        )
        .map_err(|why| refuse(Code::InvalidArgument, "passphrase", &why))?;
        first.extend(enc.encode(&Record::Keys(sealed)));
    }
    let gone = |_| Status::cancelled("the client went away");
    send(first, false).map_err(gone)?;

    // Entries, and the commitments they hold, in order.
    let mut commits = Vec::new();
    let mut seen = HashSet::new();
    let mut batch: Vec<Vec<u8>> = Vec::new();
    let mut bytes = 0usize;
    let mut batch_first = 0u64;
    let mut counts = (0u64, 0u64, 0u64);
    for e in store.entries(0, n) {
        let e = e.map_err(store_status)?;
        for c in segment_commits(&e.bytes) {
            if seen.insert(c) {
                commits.push(c);
            }
        }
        bytes += e.bytes.len() + 4;
        batch.push(e.bytes);
        if bytes >= RECORD_TARGET {
            let entries = std::mem::take(&mut batch);
            counts.0 += entries.len() as u64;
            let next_first = batch_first + entries.len() as u64;
            let record = enc.encode(&Record::Entries {
                first: batch_first,
                entries,
            });
            send(record, false).map_err(gone)?;
            batch_first = next_first;
            bytes = 0;
        }
    }
    if !batch.is_empty() {
        counts.0 += batch.len() as u64;
        let record = enc.encode(&Record::Entries {
            first: batch_first,
            entries: batch,
        });
        send(record, false).map_err(gone)?;
    }
    if counts.0 != n {
        return Err(store_status(StoreError::corrupt(
            counts.0,
            "the log ended before the backup's tree size",
        )));
    }

    // The sealed content of those segments that is still stored (not erased as it is read).
    let mut contents = Vec::new();
    let mut bytes = 0usize;
    for c in &commits {
        let Some(sealed) = store.sealed_content(c).map_err(store_status)? else {
            continue;
        };
        bytes += sealed.sealed.len() + 80;
        contents.push(sealed);
        if bytes >= RECORD_TARGET {
            counts.1 += contents.len() as u64;
            let record = enc.encode(&Record::Contents(std::mem::take(&mut contents)));
            send(record, false).map_err(gone)?;
            bytes = 0;
        }
    }
    if !contents.is_empty() {
        counts.1 += contents.len() as u64;
        send(enc.encode(&Record::Contents(contents)), false).map_err(gone)?;
    }

    let requests = store.request_digests(n).map_err(store_status)?;
    for chunk in requests.chunks(REQUESTS_PER_RECORD) {
        counts.2 += chunk.len() as u64;
        send(enc.encode(&Record::Requests(chunk.to_vec())), false).map_err(gone)?;
    }
    let end = enc.encode(&Record::End {
        entries: counts.0,
        contents: counts.1,
        requests: counts.2,
    });
    send(end, true).map_err(gone)?;
    tracing::info!(
        tree_size = n,
        contents = counts.1,
        with_keys = req.with_keys,
        "backup streamed"
    );
    Ok(())
}

/// `Audit.ExportLog`, after the caller was allowed.
pub(super) fn export_log(
    svc: Arc<Service>,
    stopping: watch::Receiver<bool>,
    req: pb::ExportLogRequest,
) -> Result<ChunkStream<pb::ExportLogChunk>, Status> {
    let size = svc.store().size();
    let n = match req.tree_size {
        0 => size,
        n if n > size => {
            return Err(refuse(
                Code::OutOfRange,
                "tree_size",
                &format!("{n} is beyond the log's {size} entries"),
            ))
        }
        n => n,
    };
    let checkpoint = svc.store().checkpoint_at(n).map_err(store_status)?;
    Ok(spawn(stopping, "export", move |out| {
        let mut chunk = pb::ExportLogChunk {
            checkpoint,
            tree_size: n,
            first_seq: 0,
            entries: Vec::new(),
        };
        let mut bytes = 0usize;
        for e in svc.store().entries(0, n) {
            let e = e.map_err(store_status)?;
            bytes += e.bytes.len() + 4;
            chunk.entries.push(e.bytes);
            if bytes >= RECORD_TARGET {
                let next = pb::ExportLogChunk {
                    checkpoint: String::new(),
                    tree_size: n,
                    first_seq: chunk.first_seq + chunk.entries.len() as u64,
                    entries: Vec::new(),
                };
                if out.send(std::mem::replace(&mut chunk, next)).is_err() {
                    return Ok(());
                }
                bytes = 0;
            }
        }
        // The last chunk (the only one, for an empty log: it carries the checkpoint).
        if !chunk.entries.is_empty() || chunk.first_seq == 0 {
            let _ = out.send(chunk);
        }
        Ok(())
    }))
}
