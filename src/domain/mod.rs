//! The domain core: co-produced notes, redaction, consent, safeguarding and access, as events,
//! decisions and projections.
//!
//! Owns: what events mean and which may happen. Pure: no sled, no tonic, no clock, no
//! randomness — times and ids are passed in, and text is committed through a [`Commit`] the
//! caller passes, only once a command is accepted. The service
//! ([`crate::service`]) is the only caller that does I/O around it.
//!
//! - [`types`]: vocabularies, identifiers, times, segment references;
//! - [`event`]: every event type with its data shape;
//! - [`decide`]: the commands, and the one dispatch of each to its area;
//! - the area slices, each with its records, its `handle` functions (command → events or a
//!   refusal naming the rule and field) and its `apply` (event → state, infallible):
//!   [`actors`], [`support`], [`meetings`] (planned, held, cancelled, not attended; groups),
//!   [`goals`] (personal recovery goals in the person's words), [`notes`], [`consent`], [`safeguarding`], [`sar`],
//!   [`discussions`] (who discussed the person, on what basis), [`statements`] (the person's own
//!   words about an item), [`authority`] (representatives acting for the person), [`retention`]
//!   (the retention period, legal holds, erasure when it ends), and [`reads`] (the fold of
//!   recorded reads and rule 8's proof);
//! - [`checks`]: refusals and the checks the areas share;
//! - [`projection`]: the state every area folds into, its dispatch of each event to its area,
//!   and its persisted records;
//! - [`stream`]: stream names (`<kind>:<id>`), typed;
//! - [`access`]: the one module that decides every read of a person's content;
//! - [`view`]: records as a scope allows, and the compliance flags;
//! - [`calendar`]: "one calendar month" for subject access requests.

pub mod access;
pub mod actors;
pub mod authority;
pub mod calendar;
pub mod checks;
pub mod consent;
pub mod decide;
pub mod discussions;
pub mod erasure;
pub mod event;
pub mod goals;
pub mod meetings;
pub mod notes;
pub mod projection;
pub mod reads;
pub mod retention;
pub mod safeguarding;
pub mod sar;
pub mod statements;
pub mod stream;
pub mod support;
pub mod types;
pub mod view;

pub use actors::decide_bootstrap;
pub use checks::{Code, Refusal};
pub use decide::{decide, Command, Commit, Decision, Emit};
pub use event::{Event, Recorded};
pub use projection::Projections;
