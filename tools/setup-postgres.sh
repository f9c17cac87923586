#!/usr/bin/env bash
# Makes sure the tests can start a PostgreSQL server of their own: the server's programs
# (initdb, pg_ctl, postgres) and, when running as root, the 'postgres' system user they run
# as (PostgreSQL refuses to run as root). Idempotent and quick when both are there.
# Installs with apt-get (Debian/Ubuntu) only when the programs are missing.
set -euo pipefail

have_server() {
    command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

if ! have_server; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "tools/setup-postgres.sh: PostgreSQL (initdb, pg_ctl, postgres) is missing and" \
            "apt-get is not available; install the PostgreSQL server by hand" >&2
        exit 1
    fi
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        SUDO="sudo"
    fi
    echo "tools/setup-postgres.sh: installing the PostgreSQL server with apt-get" >&2
    if ! apt-cache policy postgresql 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        $SUDO apt-get update -qq
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
fi

if [ "$(id -u)" -eq 0 ] && ! id -u postgres >/dev/null 2>&1; then
    echo "tools/setup-postgres.sh: creating the 'postgres' system user" >&2
    useradd --system --user-group --no-create-home --shell /usr/sbin/nologin postgres
fi
