#!/bin/sh
# kafka-console-consumer.sh: print records of topics. Runs `rill console-consumer` with the same arguments.
exec "$(dirname "$(readlink -f "$0")")/rill-run" console-consumer "$@"
