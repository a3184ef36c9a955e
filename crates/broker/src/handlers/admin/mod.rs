//! Admin APIs: topics, partitions, configs, cluster and log dirs.

pub mod alter_configs;
pub mod alter_partition_reassignments;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_log_dirs;
pub mod elect_leaders;
pub mod incremental_alter_configs;
pub mod list_partition_reassignments;
