//! withus: the record system for peer support in mental health, on a hash-chained,
//! Merkle-proved event log. See ARCHITECTURE.md for the map; this crate root only lists modules.
//!
//! Pure modules (no I/O, no clock, no randomness): [`format`], [`merkle`], [`checkpoint`],
//! [`content`]. The only module that touches disk: [`store`].

pub mod checkpoint;
pub mod content;
pub mod domain;
pub mod format;
pub mod merkle;
pub mod store;
