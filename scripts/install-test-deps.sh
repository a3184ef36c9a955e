#!/usr/bin/env bash
# Installs what the tests need, idempotently: Debian packages (Apache
# ZooKeeper 3.8 for side-by-side tests and its zkCli.sh, kcat, supervisor for
# the deploy/supervisor programs) and the Python clients and checkers in
# tests/python/requirements.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi

apt_packages=(zookeeper kcat tmux supervisor)
# the compose tool for tests/python/test_deploy.py, where a Docker engine is
if command -v docker >/dev/null 2>&1; then apt_packages+=(docker-compose); fi
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! python3 -c 'import pytest, kazoo, confluent_kafka, kafka, snappy, lz4, zstandard, kubernetes_validate' >/dev/null 2>&1; then
  echo "installing Python test clients"
  python3 -m pip install -q --disable-pip-version-check -r tests/python/requirements.txt
fi
