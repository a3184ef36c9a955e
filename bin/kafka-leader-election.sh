#!/bin/sh
# kafka-leader-election.sh: elect partition leaders. Runs `rill leader-election` with the same arguments.
exec "$(dirname "$(readlink -f "$0")")/rill-run" leader-election "$@"
