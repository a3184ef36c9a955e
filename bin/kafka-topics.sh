#!/bin/sh
# kafka-topics.sh: create, list, describe, alter and delete topics. Runs `rill topics` with the same arguments.
exec "$(dirname "$(readlink -f "$0")")/rill-run" topics "$@"
