#!/bin/sh
# kafka-console-producer.sh: send lines of standard input as records. Runs `rill console-producer` with the same arguments.
exec "$(dirname "$(readlink -f "$0")")/rill-run" console-producer "$@"
