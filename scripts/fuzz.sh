#!/usr/bin/env bash
# Runs each fuzz target for a while (default 60 s each):
#   scripts/fuzz.sh [seconds] [target...]
# Targets: jute_decode (keeper: ZooKeeper requests, log records),
# kafka_request (broker: request headers and bodies, record batches).
# cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP lets the stable
# toolchain on this machine build it.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
shift || true
targets=("$@")
((${#targets[@]})) || targets=(jute_decode kafka_request)
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
cd fuzz
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  cargo fuzz run "$t" "corpus/$t" -- -max_total_time="$secs" -max_len=4096
done
