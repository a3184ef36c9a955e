#!/bin/sh
# kafka-consumer-perf-test.sh: consume load and report throughput. Runs `rill consumer-perf-test` with the same arguments.
exec "$(dirname "$(readlink -f "$0")")/rill-run" consumer-perf-test "$@"
