//! DescribeLogDirs (35): for each of this broker's log directories, the
//! partitions it hosts there with their size (offset lag 0, no future logs:
//! there is no replica movement between directories). A null topic list
//! means every partition.
//!
//! From v4 each directory also reports its file system's total and usable
//! bytes (-1, the protocol's "unknown", when they cannot be read).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse};

use crate::handlers::{str_bytes, topic_name};
use crate::server::apis::RequestContext;
use crate::server::Broker;

pub const VERSIONS: (i16, i16) = (1, 4);

/// One hosted partition's log: where it lives and how big it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogInfo {
    pub dir: PathBuf,
    pub topic: String,
    pub partition: i32,
    pub size: u64,
}

pub async fn handle(
    b: &Arc<Broker>,
    ctx: &RequestContext,
    req: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    let wanted: Option<BTreeSet<(String, i32)>> = req.topics.map(|topics| {
        topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(move |p| (t.topic.0.to_string(), *p))
            })
            .collect()
    });
    let logs: Vec<LogInfo> = b
        .replicas
        .all()
        .into_iter()
        .filter(|p| {
            wanted
                .as_ref()
                .is_none_or(|w| w.contains(&(p.topic.to_string(), p.index)))
        })
        .map(|p| {
            p.with_log(|l| LogInfo {
                dir: l.dir().parent().map(Path::to_path_buf).unwrap_or_default(),
                topic: p.topic.to_string(),
                partition: p.index,
                size: l.size_bytes(),
            })
        })
        .collect();
    DescribeLogDirsResponse::default().with_results(results(&b.log_dirs(), &logs, ctx.version))
}

/// The file system's (total, usable) bytes under `dir`, -1 when unknown.
fn space(dir: &Path) -> (i64, i64) {
    let read = |r: std::io::Result<u64>| r.map_or(-1, |v| v.min(i64::MAX as u64) as i64);
    (read(fs4::total_space(dir)), read(fs4::available_space(dir)))
}

/// Groups `logs` under the configured `dirs`, topics and partitions sorted.
pub fn results(dirs: &[PathBuf], logs: &[LogInfo], version: i16) -> Vec<DescribeLogDirsResult> {
    dirs.iter()
        .map(|dir| {
            let mut topics: BTreeMap<&str, Vec<&LogInfo>> = BTreeMap::new();
            for log in logs.iter().filter(|l| same_dir(&l.dir, dir)) {
                topics.entry(&log.topic).or_default().push(log);
            }
            let (total, usable) = if version >= 4 { space(dir) } else { (-1, -1) };
            DescribeLogDirsResult::default()
                .with_log_dir(str_bytes(&absolute(dir).to_string_lossy()))
                .with_total_bytes(total)
                .with_usable_bytes(usable)
                .with_topics(
                    topics
                        .into_iter()
                        .map(|(topic, mut parts)| {
                            parts.sort_by_key(|l| l.partition);
                            DescribeLogDirsTopic::default()
                                .with_name(topic_name(topic))
                                .with_partitions(
                                    parts
                                        .into_iter()
                                        .map(|l| {
                                            DescribeLogDirsPartition::default()
                                                .with_partition_index(l.partition)
                                                .with_partition_size(l.size as i64)
                                                .with_offset_lag(0)
                                                .with_is_future_key(false)
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                )
        })
        .collect()
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

fn same_dir(a: &Path, b: &Path) -> bool {
    a == b || absolute(a) == absolute(b)
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn groups_by_dir_and_encodes_at_every_served_version() {
        let dirs = [PathBuf::from("/data/a"), PathBuf::from("/data/b")];
        let log = |dir: &str, topic: &str, partition, size| LogInfo {
            dir: PathBuf::from(dir),
            topic: topic.into(),
            partition,
            size,
        };
        let logs = [
            log("/data/a", "t", 1, 10),
            log("/data/b", "t", 0, 20),
            log("/data/a", "t", 0, 30),
            log("/data/a", "u", 0, 0),
        ];
        let r = results(&dirs, &logs, 3);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].log_dir.as_str(), "/data/a");
        assert_eq!(r[0].topics.len(), 2);
        let sizes: Vec<i64> = r[0].topics[0]
            .partitions
            .iter()
            .map(|p| p.partition_size)
            .collect();
        assert_eq!(sizes, vec![30, 10]);
        assert_eq!(r[1].topics[0].partitions[0].partition_size, 20);
        let resp = DescribeLogDirsResponse::default().with_results(r);
        crate::handlers::assert_encodes(&resp, VERSIONS);
        let with_space = results(&[std::env::temp_dir()], &[], 4);
        assert!(with_space[0].total_bytes > 0);
        assert!((0..=with_space[0].total_bytes).contains(&with_space[0].usable_bytes));
    }
}
