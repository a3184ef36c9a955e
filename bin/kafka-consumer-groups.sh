#!/bin/sh
# kafka-consumer-groups.sh: list, describe, reset and delete consumer groups. Runs `rill consumer-groups` with the same arguments.
exec "$(dirname "$(readlink -f "$0")")/rill-run" consumer-groups "$@"
