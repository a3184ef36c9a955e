//! A Kafka wire-compatible broker: the library behind `rill broker`.
//!
//! # Layout
//! - [`config`]: server.properties and topic configs, with Kafka's names,
//!   defaults, synonyms and validation.
//! - [`log`]: segment files of v2 record batches stored as received, offset
//!   and time indexes, partition logs, recovery and retention.
//! - [`metadata`]: the cluster view, and Kafka's znode layout in ZooKeeper.
//! - [`replica`]: hosted partitions (role, leader epoch, ISR, high
//!   watermark), the fetch and produce purgatories, the replica fetcher.
//! - [`controller`]: leader election decisions; the cluster design notes.
//! - [`handlers`]: one module per Kafka API.
//! - [`server`]: start-up, listener, connections, the API table, topic operations.

pub mod config;
pub mod controller;
pub mod group;
pub mod handlers;
pub mod log;
pub mod metadata;
pub mod replica;
pub mod server;

pub use server::now_ms;
