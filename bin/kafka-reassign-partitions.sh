#!/bin/sh
# kafka-reassign-partitions.sh: move partition replicas between brokers. Runs `rill reassign-partitions` with the same arguments.
exec "$(dirname "$(readlink -f "$0")")/rill-run" reassign-partitions "$@"
