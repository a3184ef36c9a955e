#!/bin/sh
# kafka-server-start.sh [-daemon] server.properties [--override key=value]...
# Runs `rill broker` with the same arguments. With -daemon it runs in the
# background, output in $LOG_DIR/kafkaServer.out (LOG_DIR defaults to <repo>/logs).
here=$(dirname "$(readlink -f "$0")")
if [ $# -lt 1 ]; then
    echo "USAGE: $0 [-daemon] server.properties [--override property=value]*" >&2
    exit 1
fi
if [ "$1" = "-daemon" ]; then
    shift
    log_dir=${LOG_DIR:-$(dirname "$here")/logs}
    mkdir -p "$log_dir"
    nohup "$here/rill-run" broker "$@" > "$log_dir/kafkaServer.out" 2>&1 < /dev/null &
    exit 0
fi
exec "$here/rill-run" broker "$@"
