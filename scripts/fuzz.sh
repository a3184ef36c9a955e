#!/usr/bin/env bash
# Runs the jute decoder fuzz target for a while (default 60 s):
#   scripts/fuzz.sh [seconds]
# cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP lets the stable
# toolchain on this machine build it.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
cd fuzz
mkdir -p corpus/jute_decode
cargo fuzz run jute_decode corpus/jute_decode -- -max_total_time="$secs" -max_len=4096
