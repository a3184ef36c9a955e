//! Metadata (3): brokers, controller, topics and partition leadership;
//! creates unknown topics when auto.create.topics.enable allows it. Brokers
//! are listed with their endpoint on the listener the request arrived on
//! (a broker without that listener is left out), as Kafka answers.

use std::sync::Arc;

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse};
use kafka_protocol::ResponseError;

use super::{str_bytes, topic_name};
use crate::metadata::{validate_topic_name, TopicInfo};
use crate::server::apis::RequestContext;
use crate::server::{Broker, NewTopic};

pub const VERSIONS: (i16, i16) = (0, 12);

pub async fn handle(
    b: &Arc<Broker>,
    ctx: &RequestContext,
    req: MetadataRequest,
) -> MetadataResponse {
    // v0: an empty list means all topics; v1+: null means all, empty means none.
    let requested: Option<Vec<String>> = match req.topics {
        None => None,
        Some(t) if t.is_empty() && ctx.version == 0 => None,
        Some(t) => Some(
            t.into_iter()
                .filter_map(|t| {
                    t.name.map(|n| n.0.to_string()).or_else(|| {
                        b.metadata()
                            .topic_by_id(&t.topic_id)
                            .map(|i| i.name.clone())
                    })
                })
                .collect(),
        ),
    };
    let auto_create =
        (ctx.version < 4 || req.allow_auto_topic_creation) && b.config.auto_create_topics_enable;
    let mut topics = Vec::new();
    match requested {
        None => {
            let all: Vec<Arc<TopicInfo>> = b.metadata().topics().cloned().collect();
            topics.extend(all.iter().map(|t| describe(b, ctx, t)));
        }
        Some(names) => {
            for name in names {
                let existing = b.metadata().topic(&name).cloned();
                let entry = match existing {
                    Some(t) => describe(b, ctx, &t),
                    None => missing(b, ctx, &name, auto_create).await,
                };
                topics.push(entry);
            }
        }
    }
    let meta = b.metadata();
    MetadataResponse::default()
        .with_brokers(
            meta.brokers
                .values()
                .filter_map(|br| {
                    let (host, port) = br.endpoint(&ctx.listener)?;
                    Some(
                        MetadataResponseBroker::default()
                            .with_node_id(BrokerId(br.id))
                            .with_host(str_bytes(host))
                            .with_port(i32::from(port))
                            .with_rack(br.rack.as_deref().map(str_bytes)),
                    )
                })
                .collect(),
        )
        .with_cluster_id(Some(str_bytes(&meta.cluster_id)))
        .with_controller_id(BrokerId(meta.controller))
        .with_topics(topics)
}

async fn missing(
    b: &Arc<Broker>,
    ctx: &RequestContext,
    name: &str,
    auto_create: bool,
) -> MetadataResponseTopic {
    let error = |code: ResponseError| {
        MetadataResponseTopic::default()
            .with_name(Some(topic_name(name)))
            .with_error_code(code.code())
    };
    if validate_topic_name(name).is_err() {
        return error(ResponseError::InvalidTopicException);
    }
    if !auto_create {
        return error(ResponseError::UnknownTopicOrPartition);
    }
    match b.create_topic(NewTopic::with_defaults(name)).await {
        Ok(t) => describe(b, ctx, &t),
        Err(e) if e.code == ResponseError::TopicAlreadyExists => {
            match b.metadata().topic(name).cloned() {
                Some(t) => describe(b, ctx, &t),
                None => error(ResponseError::LeaderNotAvailable),
            }
        }
        Err(e) => {
            tracing::warn!("auto-creating topic {name} failed: {}", e.message);
            error(e.code)
        }
    }
}

fn describe(b: &Broker, ctx: &RequestContext, t: &TopicInfo) -> MetadataResponseTopic {
    let live = &b.metadata().brokers;
    // Kafka: a live leader without the request's listener is
    // LISTENER_NOT_FOUND from v6 on, LEADER_NOT_AVAILABLE before.
    let unreachable = if ctx.version >= 6 {
        ResponseError::ListenerNotFound.code()
    } else {
        ResponseError::LeaderNotAvailable.code()
    };
    MetadataResponseTopic::default()
        .with_name(Some(topic_name(&t.name)))
        .with_topic_id(t.id)
        .with_is_internal(t.internal)
        .with_partitions(
            t.partitions
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let offline: Vec<BrokerId> = p
                        .replicas
                        .iter()
                        .filter(|r| !live.contains_key(r))
                        .map(|r| BrokerId(*r))
                        .collect();
                    let error = match live.get(&p.leader) {
                        None => ResponseError::LeaderNotAvailable.code(),
                        Some(l) if l.endpoint(&ctx.listener).is_none() => unreachable,
                        Some(_) => 0,
                    };
                    MetadataResponsePartition::default()
                        .with_error_code(error)
                        .with_partition_index(i as i32)
                        .with_leader_id(BrokerId(p.leader))
                        .with_leader_epoch(p.leader_epoch)
                        .with_replica_nodes(p.replicas.iter().map(|r| BrokerId(*r)).collect())
                        .with_isr_nodes(p.isr.iter().map(|r| BrokerId(*r)).collect())
                        .with_offline_replicas(offline)
                })
                .collect(),
        )
}
