#!/bin/sh
# kafka-configs.sh: describe and alter topic and broker configs. Runs `rill configs` with the same arguments.
exec "$(dirname "$(readlink -f "$0")")/rill-run" configs "$@"
