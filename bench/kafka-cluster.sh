#!/usr/bin/env bash
# Broker-cluster benchmark: three release `rill broker`s (RF=3,
# min.insync.replicas=2) on one `rill keeper`, on loopback. acks=all
# throughput with librdkafka (rdkafka_performance) and `rill perf`, p99 at
# half of peak, failover times (kill -9 and controlled shutdown of the
# leader's broker, seen by an acks=all producer) and the brokers' peak RSS.
#
#   bench/kafka-cluster.sh [records]   (default 2,000,000 per produce run)
#
# Not a test: nothing here asserts a speed. See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bench/kafka.sh --build-only
export RILL_BIN=$PWD/target/release/rill
exec python3 bench/kafka_cluster.py "${1:-2000000}"
