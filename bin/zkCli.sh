#!/bin/sh
# zkCli.sh: the ZooKeeper shell. Runs `rill zk` with the same arguments.
exec "$(dirname "$(readlink -f "$0")")/rill-run" zk "$@"
