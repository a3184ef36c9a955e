#!/bin/sh
# kafka-dump-log.sh: print the batches and records of log segment files. Runs `rill dump-log` with the same arguments.
exec "$(dirname "$(readlink -f "$0")")/rill-run" dump-log "$@"
