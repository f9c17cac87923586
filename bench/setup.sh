#!/usr/bin/env bash
# Installs what the benchmark needs beyond the project's venv: the wrk load generator.
# Idempotent: does nothing when wrk is already on PATH. Debian/Ubuntu only (apt-get).
set -euo pipefail

if command -v wrk >/dev/null 2>&1; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "bench/setup.sh: wrk is missing and apt-get is not available; install wrk by hand" >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

echo "bench/setup.sh: installing wrk with apt-get" >&2
if ! apt-cache policy wrk 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    $SUDO apt-get update -qq
fi
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk >/dev/null
command -v wrk >/dev/null
