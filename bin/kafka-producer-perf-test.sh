#!/bin/sh
# kafka-producer-perf-test.sh: produce load and report throughput and latency. Runs `rill producer-perf-test` with the same arguments.
exec "$(dirname "$(readlink -f "$0")")/rill-run" producer-perf-test "$@"
