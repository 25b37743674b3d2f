#!/usr/bin/env bash
# Quick start: installs what is missing, builds the Release binary and starts the gateway
# with the default config (deploy/switchyard.yaml) on 127.0.0.1:4000.
# Extra arguments go to the binary, e.g. scripts/run.sh --listen 127.0.0.1:8080
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" release -DSWITCHYARD_TESTS=OFF -DSWITCHYARD_WERROR=OFF
exec "$root/build/release/proxy/switchyard" --config "$root/deploy/switchyard.yaml" "$@"
