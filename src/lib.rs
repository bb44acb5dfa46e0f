//! withus: the record system for peer support in mental health, on a hash-chained,
//! Merkle-proved event log. See ARCHITECTURE.md for the map; this crate root only lists modules.
//!
//! Pure modules (no I/O, no clock, no randomness): [`format`], [`merkle`], [`checkpoint`],
//! [`content`], [`domain`], [`language`]. The only module that touches disk: [`store`]. The command service
//! that carries out domain decisions through the store: [`service`]. The transport: [`grpc`]
//! (withus.v1, health, reflection) and [`http`] (metrics and health for operators); what they
//! count: [`metrics`].

pub mod backup;
pub mod checkpoint;
pub mod content;
pub mod domain;
pub mod format;
pub mod grpc;
pub mod http;
pub mod language;
pub mod merkle;
pub mod metrics;
pub mod oidc;
pub mod sar;
pub mod service;
pub mod store;
