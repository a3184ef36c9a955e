//! Admin APIs: topics, partitions, configs, cluster and log dirs.

pub mod create_topics;
pub mod delete_topics;
