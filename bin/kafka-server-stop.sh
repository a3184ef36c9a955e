#!/bin/sh
# kafka-server-stop.sh [PATTERN]
# Sends SIGTERM (a clean shutdown) to the `rill broker` processes of this
# machine, as Kafka's script does to its brokers. With PATTERN, only brokers
# whose command line contains it (e.g. their server.properties path).
pattern=${1:-}
pids=$(ps ax -o pid= -o args= | awk -v pat="$pattern" '
    $0 ~ /(^|\/)rill broker( |$)/ || $0 ~ /\/rill-run broker( |$)/ {
        if (pat == "" || index($0, pat) > 0) print $1
    }')
if [ -z "$pids" ]; then
    echo "No kafka server to stop"
    exit 1
fi
kill -s TERM $pids
