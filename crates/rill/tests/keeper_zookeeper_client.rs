//! `rill keeper` driven by the `zookeeper-client` crate (the client the broker
//! uses): create2, multi, and persistent recursive watches.

use std::path::Path;
use std::time::Duration;

use test_support::Keeper;
use zookeeper_client as zk;

fn keeper() -> Keeper {
    Keeper::start(Path::new(env!("CARGO_BIN_EXE_rill")), "")
}

async fn connect(k: &Keeper) -> zk::Client {
    zk::Client::connector()
        .with_session_timeout(Duration::from_secs(10))
        .connect(&k.address())
        .await
        .expect("connect to rill keeper")
}

const PERSISTENT: zk::CreateOptions<'static> =
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());

#[tokio::test]
async fn create2_returns_the_stat_zookeeper_computes() {
    let k = keeper();
    let client = connect(&k).await;
    let (stat, _) = client.create("/c2", b"hello", &PERSISTENT).await.unwrap();
    assert_eq!(stat.czxid, stat.mzxid);
    assert_eq!(stat.czxid, stat.pzxid);
    assert_eq!((stat.version, stat.cversion, stat.aversion), (0, 0, 0));
    assert_eq!(stat.data_length, 5);
    let (data, read) = client.get_data("/c2").await.unwrap();
    assert_eq!(data, b"hello");
    assert_eq!(read, stat);
    assert!(matches!(
        client.create("/c2", b"", &PERSISTENT).await,
        Err(zk::Error::NodeExists)
    ));
    let seq = zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());
    let (_, sequence) = client.create("/c2/s-", b"", &seq).await.unwrap();
    assert_eq!(sequence.into_i64(), 0);
}

#[tokio::test]
async fn multi_applies_all_or_nothing() {
    let k = keeper();
    let client = connect(&k).await;
    client.create("/m", b"", &PERSISTENT).await.unwrap();

    let mut ok = client.new_multi_writer();
    ok.add_create("/m/a", b"1", &PERSISTENT).unwrap();
    ok.add_set_data("/m", b"x", Some(0)).unwrap();
    ok.add_check_version("/m/a", 0).unwrap();
    let results = ok.commit().await.unwrap();
    assert_eq!(results.len(), 3);
    assert!(matches!(&results[0], zk::MultiWriteResult::Create { path, .. } if path == "/m/a"));
    assert!(matches!(&results[1], zk::MultiWriteResult::SetData { stat } if stat.version == 1));

    let mut bad = client.new_multi_writer();
    bad.add_create("/m/b", b"", &PERSISTENT).unwrap();
    bad.add_delete("/m/a", Some(7)).unwrap();
    let err = bad.commit().await.unwrap_err();
    assert!(
        matches!(
            err,
            zk::MultiWriteError::OperationFailed {
                index: 1,
                source: zk::Error::BadVersion
            }
        ),
        "{err:?}"
    );
    assert!(
        client.check_stat("/m/b").await.unwrap().is_none(),
        "failed multi must not apply"
    );
}

#[tokio::test]
async fn persistent_recursive_watch_sees_descendants() {
    let k = keeper();
    let client = connect(&k).await;
    client.create("/w", b"", &PERSISTENT).await.unwrap();
    let mut watcher = client
        .watch("/w", zk::AddWatchMode::PersistentRecursive)
        .await
        .unwrap();

    client.create("/w/a", b"", &PERSISTENT).await.unwrap();
    client.create("/w/a/b", b"", &PERSISTENT).await.unwrap();
    client.set_data("/w/a/b", b"x", None).await.unwrap();
    client.delete("/w/a/b", None).await.unwrap();

    let mut seen = Vec::new();
    for _ in 0..4 {
        let ev = tokio::time::timeout(Duration::from_secs(5), watcher.changed())
            .await
            .expect("event");
        seen.push((ev.event_type, ev.path));
    }
    assert_eq!(
        seen,
        vec![
            (zk::EventType::NodeCreated, "/w/a".to_string()),
            (zk::EventType::NodeCreated, "/w/a/b".to_string()),
            (zk::EventType::NodeDataChanged, "/w/a/b".to_string()),
            (zk::EventType::NodeDeleted, "/w/a/b".to_string()),
        ]
    );
}
