#!/bin/sh
# kafka-broker-api-versions.sh: the API versions each broker serves. Runs `rill broker-api-versions` with the same arguments.
exec "$(dirname "$(readlink -f "$0")")/rill-run" broker-api-versions "$@"
