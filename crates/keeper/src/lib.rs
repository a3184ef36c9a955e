//! A ZooKeeper wire-compatible coordination server: the library behind `rill keeper`.
//!
//! # Layout
//! - [`proto`]: jute codec, records and protocol constants (pure).
//! - [`tree`]: the data tree of znodes (pure).
//! - [`acl`]: ACL schemes and permission checks (pure).
//! - [`txn`]: resolved write transactions and their log encoding.
//! - [`state`]: the replicated state machine (tree + sessions), changed only by `apply`.
//! - [`session`]: session expiry tracking, with the clock passed in.
//! - [`watch`]: the per-server watch registry.
//! - [`persist`]: transaction log, snapshots, recovery (standalone).
//! - [`raft`]: ensembles: openraft glue (log store, state machine relay, peer network).
//! - [`config`]: zoo.cfg parsing.
//! - [`four_letter`]: ruok, srvr, stat, mntr, ...
//! - [`server`]: listener, connections, and the request pipeline.

pub mod acl;
pub mod config;
pub mod four_letter;
pub mod persist;
pub mod proto;
pub mod raft;
pub mod server;
pub mod session;
pub mod state;
pub mod tree;
pub mod txn;
pub mod watch;

pub use config::KeeperConfig;
pub use server::KeeperServer;
