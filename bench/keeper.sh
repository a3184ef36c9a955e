#!/usr/bin/env bash
# Keeper benchmark: the same ZooKeeper client load against `rill keeper` and Apache ZooKeeper 3.8
# standalone, one after the other, printed side by side (ops/s, p50/p99 latency, RSS, ratios).
# A benchmark, not a test: it never fails on the figures. See bench/README.md.
#
#   bench/keeper.sh                     # defaults: both targets, 3 rounds, zookeeper-client load
#   bench/keeper.sh --client raw        # cross-check with the harness's lean wire-protocol client
#   bench/keeper.sh --target zookeeper  # any other keeper-bench flag passes through (--help)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -e /usr/share/java/zookeeper.jar ]; then
    echo "keeper.sh: Apache ZooKeeper not installed (apt-get install zookeeper)" >&2
    exit 1
fi
cargo build --release -p rill -p rill-bench
exec target/release/keeper-bench --rill-bin target/release/rill "$@"
