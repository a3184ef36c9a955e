#!/usr/bin/env bash
# Broker benchmark with librdkafka as the client: rdkafka_performance, built
# from the librdkafka source that the rdkafka-sys crate ships, against a
# release `rill dev` on loopback. 100-byte records; 1 and 8 partitions;
# acks=1 and acks=all; consume throughput; produce latency at half of the
# measured peak rate; the broker's peak RSS. Prints one table.
#
#   bench/kafka.sh [records]        (default 5,000,000 per produce run)
#   bench/kafka.sh --build-only     (just rdkafka_performance and release rill;
#                                    bench/kafka-cluster.sh uses it)
#
# Needs gcc and make (and python3 with confluent-kafka for topic creation:
# scripts/install-test-deps.sh). Not a test: nothing here asserts a speed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N=${1:-5000000}
OUT=$ROOT/target/bench-kafka
RDK=$OUT/librdkafka
PERF=$RDK/examples/rdkafka_performance
RDKAFKA_SYS_VERSION="=4.10.0"

build_rdkafka_performance() {
  [[ -x $PERF ]] && return
  echo "building rdkafka_performance from the rdkafka-sys crate's librdkafka source" >&2
  mkdir -p "$OUT/fetch/src"
  cat >"$OUT/fetch/Cargo.toml" <<EOF
[package]
name = "rdkafka-source-fetch"
version = "0.0.0"
edition = "2021"
[dependencies]
rdkafka-sys = { version = "$RDKAFKA_SYS_VERSION", default-features = false }
[workspace]
EOF
  echo "fn main() {}" >"$OUT/fetch/src/main.rs"
  cargo fetch -q --manifest-path "$OUT/fetch/Cargo.toml"
  local manifest
  manifest=$(cargo metadata -q --format-version 1 --manifest-path "$OUT/fetch/Cargo.toml" |
    python3 -c 'import json,sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"] == "rdkafka-sys"))')
  rm -rf "$RDK"
  cp -r "$(dirname "$manifest")/librdkafka" "$RDK"
  (cd "$RDK" && ./configure --disable-ssl --disable-gssapi --disable-curl --disable-zstd \
      --disable-lz4-ext >"$OUT/configure.log" 2>&1 &&
    make -j"$(nproc)" libs >"$OUT/make.log" 2>&1 &&
    make -C examples rdkafka_performance >>"$OUT/make.log" 2>&1) || {
    echo "building librdkafka failed; see $OUT/configure.log and $OUT/make.log" >&2
    exit 1
  }
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

build_rdkafka_performance
cargo build -q --release -p rill
[[ ${1:-} == --build-only ]] && exit 0
RILL=$ROOT/target/release/rill
DATA=$(mktemp -d /tmp/rill-kafka-bench.XXXXXX)
KPORT=$(free_port)
BPORT=$(free_port)
BROKER=127.0.0.1:$BPORT
"$RILL" dev --data-dir "$DATA" --keeper-port "$KPORT" --broker-port "$BPORT" >"$DATA/rill.log" 2>&1 &
RILL_PID=$!
trap 'kill $RILL_PID 2>/dev/null; wait $RILL_PID 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/"$BPORT") 2>/dev/null && break
  sleep 0.1
done

python3 - "$BROKER" <<'EOF'
import sys
from confluent_kafka.admin import AdminClient, NewTopic
a = AdminClient({"bootstrap.servers": sys.argv[1]})
fs = a.create_topics([NewTopic(f"bench-{acks}-p{p}", p, 1) for p in (1, 8) for acks in ("1", "all")]
                     + [NewTopic("bench-lat-p1", 1, 1)])
for f in fs.values():
    f.result(30)
EOF

# rdkafka_performance's summaries: "... in T ms: X msgs/s and Y MB/s" (produce)
# and "... consumed in T ms: X msgs/s (Y MB/s)" (consume).
summary() { grep -E '^% [0-9]+ messages' | tail -1 | sed -E 's/.* in ([0-9]+)ms: ([0-9]+) msgs\/s (and |\()([0-9.]+) MB\/s.*/\2 \4 \1/'; }
percentiles() { python3 -c '
import sys
v = sorted(int(l) for l in open(sys.argv[1]) if l.strip())
pick = lambda q: v[min(len(v) - 1, int(q * len(v)))] / 1000
print(f"{sum(v) / len(v) / 1000:.2f} {pick(0.5):.2f} {pick(0.99):.2f} {pick(0.999):.2f}")' "$1"; }

PRODUCER=(-X linger.ms=5 -X batch.size=1000000 -X queue.buffering.max.messages=1000000
  -X enable.idempotence=false)
printf "%-34s %12s %9s %9s\n" "run (100-byte records)" "records/s" "MB/s" "time ms"
declare -A PEAK
for parts in 1 8; do
  for acks in 1 all; do
    a=$([[ $acks == all ]] && echo -1 || echo 1)
    read -r rate mbs ms < <("$PERF" -P -t "bench-$acks-p$parts" -b "$BROKER" -s 100 -c "$N" -a "$a" \
      "${PRODUCER[@]}" -q 2>&1 | summary)
    PEAK[$acks-$parts]=$rate
    printf "%-34s %12s %9s %9s\n" "produce acks=$acks, $parts partition(s)" "$rate" "$mbs" "$ms"
  done
done
for parts in 1 8; do
  read -r rate mbs ms < <("$PERF" -G "bench-consume-$parts-$RANDOM" -t "bench-all-p$parts" -b "$BROKER" \
    -o beginning -c "$N" -X fetch.max.bytes=52428800 -X max.partition.fetch.bytes=10485760 -q 2>&1 | summary)
  printf "%-34s %12s %9s %9s\n" "consume (group), $parts partition(s)" "$rate" "$mbs" "$ms"
done
# `rill consumer-perf-test` (kafka-consumer-perf-test's output; it joins a
# new group first: fetch.nMsg.sec and fetch.MB.sec, the last two columns,
# leave the join out as rdkafka_performance's figures do).
for parts in 1 8; do
  IFS=', ' read -r -a f < <("$RILL" consumer-perf-test --bootstrap-server "$BROKER" \
    --topic "bench-all-p$parts" --messages "$N" --hide-header 2>&1 | tail -1 | sed 's/, /,/g' | tr ',' ' ')
  printf "%-34s %12.0f %9.2f %9s\n" "rill consumer-perf, $parts partition(s)" "${f[11]}" "${f[10]}" "${f[9]}"
done

# `rill producer-perf-test` (kafka-producer-perf-test's flags and output
# line) as a second client, unpaced.
perf_line() { "$RILL" producer-perf-test --topic "$1" --num-records "$2" --record-size 100 \
  --throughput "$3" --producer-props bootstrap.servers="$BROKER" acks="$4" batch.size=65536 2>&1 | tail -1; }
# "N records sent, R records/sec (M MB/sec), A ms avg latency, X ms max latency, P50 ms 50th, P95 ms 95th, P99 ms 99th, P999 ms 99.9th."
perf_fields() { sed -E 's/.* sent, ([0-9.]+) records\/sec \(([0-9.]+) MB\/sec\), ([0-9.]+) ms avg.*, ([0-9]+) ms 50th, [0-9]+ ms 95th, ([0-9]+) ms 99th, ([0-9]+) ms 99.9th.*/\1 \2 \3 \4 \5 \6/'; }
for acks in 1 all; do
  read -r rate mbs _ < <(perf_line "bench-$acks-p1" "$N" -1 "$acks" | perf_fields)
  printf "%-34s %12.0f %9s %9s\n" "rill perf acks=$acks, 1 partition" "$rate" "$mbs" "-"
done

# Latency at half of the peak acks=all rate (1 partition, 10 s). The rate
# must really be held: rdkafka_performance paces with a whole number of
# microseconds between messages, so it cannot hold a rate above 1,000,000/s
# (at -r 1500000 it sleeps 0 us, i.e. runs unpaced at peak); above that only
# `rill producer-perf-test`, which paces like Kafka's ThroughputThrottler,
# measures the half-peak point, and rdkafka_performance is shown at the
# highest rate it can pace.
echo
printf "%-34s %9s %9s %9s %9s %9s\n" "produce latency, acks=all, 1 part." "rate/s" "avg ms" "p50 ms" "p99 ms" "p99.9 ms"
half=$((PEAK[all-1] / 2))
read -r rate _ avg p50 p99 p999 < <(perf_line bench-lat-p1 $((half * 10)) "$half" all | perf_fields)
printf "%-34s %9.0f %9s %9s %9s %9s\n" "rill perf at half of peak ($half)" "$rate" "$avg" "$p50" "$p99" "$p999"
rd_rate=$((half < 1000000 ? half : 1000000))
LAT=$DATA/latency.txt
"$PERF" -P -t bench-lat-p1 -b "$BROKER" -s 100 -c $((rd_rate * 10)) -a -1 -r "$rd_rate" -l -A "$LAT" \
  -X linger.ms=1 -X enable.idempotence=false -q >/dev/null 2>&1
read -r avg p50 p99 p999 < <(percentiles "$LAT")
printf "%-34s %9s %9s %9s %9s %9s\n" "rdkafka_performance -r $rd_rate" "$rd_rate" "$avg" "$p50" "$p99" "$p999"
echo
echo "broker peak RSS: $(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' /proc/$RILL_PID/status)"
