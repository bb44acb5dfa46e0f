//! The domain core: co-produced notes, redaction, consent, safeguarding and access, as events,
//! decisions and projections.
//!
//! Owns: what events mean and which may happen. Pure: no sled, no tonic, no clock, no
//! randomness — times and ids are passed in, text arrives already committed. The service
//! ([`crate::service`]) is the only caller that does I/O around it.
//!
//! - [`types`]: vocabularies, identifiers, times, segment references;
//! - [`event`]: every event type with its data shape;
//! - [`decide`]: commands → events or a refusal naming the rule and field;
//! - [`projection`]: the state folded from the log, and its persisted records;
//! - [`stream`]: stream names (`<kind>:<id>`), typed;
//! - [`access`]: the one module that decides every read of a person's content;
//! - [`view`]: records as a scope allows, and the compliance flags;
//! - [`calendar`]: "one calendar month" for subject access requests.

pub mod access;
pub mod calendar;
pub mod decide;
pub mod event;
pub mod projection;
pub mod stream;
pub mod types;
pub mod view;

pub use decide::{decide, decide_bootstrap, Code, Command, Decision, Emit, Refusal};
pub use event::{Event, Recorded};
pub use projection::Projections;
