#!/bin/sh
# zkServer.sh {start|start-foreground|stop|restart|status|print-cmd} [zoo.cfg]
# ZooKeeper's control script over `rill keeper`. The config is found as the
# original finds it: a bare name is looked up in $ZOOCFGDIR (default
# <repo>/conf), a path (conf/zoo.cfg, /etc/zk/zoo.cfg) is used as given.
# The pid file is $ZOOPIDFILE, default <dataDir>/zookeeper_server.pid; the
# output of `start` goes to $ZOO_LOG_DIR/zookeeper.out (default: the current dir).
here=$(dirname "$(readlink -f "$0")")
ZOOCFGDIR=${ZOOCFGDIR:-$(dirname "$here")/conf}
ZOOCFG=${ZOOCFG:-zoo.cfg}
ZOOCFG="$ZOOCFGDIR/$ZOOCFG"
if [ -n "$2" ]; then
    ZOOCFG="$ZOOCFGDIR/$2"
    if [ "$(dirname "$ZOOCFG")" != "$ZOOCFGDIR" ]; then
        ZOOCFG=$2
    fi
fi

# dataDir from the config; comments after values are dropped, as the seeds write them.
cfg_value() {
    sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\\([^#[:space:]]*\\).*/\\1/p" "$ZOOCFG" 2>/dev/null | tail -n 1
}
if [ -z "$ZOOPIDFILE" ]; then
    data_dir=$(cfg_value dataDir)
    ZOOPIDFILE="${data_dir:-.}/zookeeper_server.pid"
fi
ZOO_LOG_DIR=${ZOO_LOG_DIR:-.}

running_pid() {
    [ -f "$ZOOPIDFILE" ] || return 1
    pid=$(cat "$ZOOPIDFILE")
    kill -0 "$pid" 2>/dev/null && echo "$pid"
}

case $1 in
start)
    echo "Using config: $ZOOCFG" >&2
    printf "Starting zookeeper ... "
    if pid=$(running_pid); then
        echo "already running as process $pid."
        exit 1
    fi
    if [ ! -f "$ZOOCFG" ]; then
        echo "FAILED TO START (no config file $ZOOCFG)"
        exit 1
    fi
    mkdir -p "$ZOO_LOG_DIR" "$(dirname "$ZOOPIDFILE")"
    nohup "$here/rill-run" keeper --config "$ZOOCFG" > "$ZOO_LOG_DIR/zookeeper.out" 2>&1 < /dev/null &
    pid=$!
    echo "$pid" > "$ZOOPIDFILE"
    sleep 1
    if kill -0 "$pid" 2>/dev/null; then
        echo STARTED
    else
        echo "FAILED TO START (see $ZOO_LOG_DIR/zookeeper.out)"
        rm -f "$ZOOPIDFILE"
        exit 1
    fi
    ;;
start-foreground)
    echo "Using config: $ZOOCFG" >&2
    exec "$here/rill-run" keeper --config "$ZOOCFG"
    ;;
print-cmd)
    echo "Using config: $ZOOCFG" >&2
    echo "\"$here/rill-run\" keeper --config \"$ZOOCFG\""
    ;;
stop)
    echo "Using config: $ZOOCFG" >&2
    printf "Stopping zookeeper ... "
    if ! pid=$(running_pid); then
        echo "no zookeeper to stop (could not find file $ZOOPIDFILE or its process)"
        rm -f "$ZOOPIDFILE"
        exit 1
    fi
    kill -s TERM "$pid"
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    rm -f "$ZOOPIDFILE"
    echo STOPPED
    ;;
restart)
    shift
    "$0" stop "$@"
    sleep 1
    "$0" start "$@"
    ;;
status)
    exec "$here/rill-run" keeper status --config "$ZOOCFG"
    ;;
*)
    echo "Usage: $0 {start|start-foreground|stop|restart|status|print-cmd} [zoo.cfg]" >&2
    exit 1
    ;;
esac
