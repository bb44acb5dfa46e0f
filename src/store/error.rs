//! Errors of the log store. Each says what went wrong and what to do next.

use std::path::PathBuf;

use crate::checkpoint::CheckpointError;
use crate::merkle::ProofRequestError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file of the data directory could not be read or written.
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// sled reported an error; the text is sled's.
    #[error("storage engine error: {0}")]
    Engine(String),

    /// Another process (or another handle in this one) has the data directory open.
    #[error("data directory {0} is in use by another withus process; stop it, or use its API")]
    Locked(PathBuf),

    /// The store was written by a newer withus.
    #[error("store format {found} is newer than this withus supports ({supported}); upgrade withus to open it")]
    NewerFormat { found: u32, supported: u32 },

    /// Something stored is not what the log format allows. `seq` names the first bad entry
    /// when the damage is in (or found through) an entry.
    #[error("store is corrupt{}: {what}; run `withus log verify` for a full report (export still works)", seq.map(|s| format!(" at seq {s}")).unwrap_or_default())]
    Corrupt { seq: Option<u64>, what: String },

    /// The signing key file is missing, unreadable or too widely readable.
    #[error("signing key {path}: {what}")]
    Key { path: PathBuf, what: String },

    /// An expected stream version did not match (optimistic concurrency).
    #[error("stream {stream}: expected version {expected} but the stream is at version {actual}; reload it and retry")]
    Conflict {
        stream: String,
        expected: u64,
        actual: u64,
    },

    /// The batch would have been stamped at or after its deadline ([`crate::store::AppendBatch::deadline`]).
    #[error("the append missed its deadline {deadline_ms} ms (it would be recorded at {at_ms} ms); decide again and retry")]
    Late { deadline_ms: u64, at_ms: u64 },

    /// A field of an append is not acceptable; `field` names it.
    /// A command id this actor already used, sent with a different request: a command id names
    /// one call, so a different call needs a new one.
    #[error("command id {command} was already used by this caller for a different request; use a new command id for a new call (a retry must repeat the request exactly)")]
    CommandReused { command: String },

    #[error("invalid {field}: {why}")]
    Invalid { field: String, why: String },

    /// A seq, stream or content that does not exist.
    #[error("not found: {0}")]
    NotFound(String),

    /// A proof or root was asked of sizes outside the tree.
    #[error(transparent)]
    Proof(#[from] ProofRequestError),

    /// A checkpoint or vkey given to verification did not check out.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),

    /// A write failed earlier and the store no longer knows which of its writes are durable; it
    /// refuses writes until reopened, when it recovers what the log holds.
    #[error("the store stopped accepting writes after a storage failure ({0}); restart to recover from the log")]
    Failed(String),

    /// The store was opened read-only (for verifying or exporting a damaged store).
    #[error("the store is open read-only; writes are refused")]
    ReadOnly,

    /// The store's writer has shut down.
    #[error("the store is closed")]
    Closed,
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(seq: impl Into<Option<u64>>, what: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            seq: seq.into(),
            what: what.into(),
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, why: impl Into<String>) -> StoreError {
        StoreError::Invalid {
            field: field.into(),
            why: why.into(),
        }
    }
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> StoreError {
        match e {
            sled::Error::Corruption { at, .. } => {
                StoreError::corrupt(None, format!("sled reports corruption at {at:?}"))
            }
            other => StoreError::Engine(other.to_string()),
        }
    }
}
