#!/usr/bin/env bash
# Set up what the test suite needs beyond the Python packages, then run the given command.
#
#   bash tests/with-deps.sh .venv/bin/python -m pytest ...     (what `make test` does)
#
# - Chromium, for the dashboard's browser tests: Debian's `chromium` package, installed
#   when it is missing and this user may install packages (root, or password-less sudo);
#   otherwise one line says what to install, and the suite does not start.
# - A PostgreSQL server on loopback, for the store tests on PostgreSQL (tests/postgres.sh:
#   installed from Debian's packages if needed, started once, reused by later runs), unless
#   ACTSEARCH_TEST_PG_URL already names one. Without root and without a server, the
#   PostgreSQL cases are left out with one line saying so (CI=true makes that an error).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "make test: $*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo -n "$@"
    else return 1
    fi
}

CHROMIUM=/usr/bin/chromium
if [ ! -x "$CHROMIUM" ]; then
    say "installing Debian's chromium for the dashboard's browser tests"
    if ! as_root env DEBIAN_FRONTEND=noninteractive sh -c \
        'apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null'; then
        say "the dashboard's browser tests need Debian's chromium at $CHROMIUM: run 'sudo apt-get install chromium', then make test again"
        exit 1
    fi
fi

if [ -z "${ACTSEARCH_TEST_PG_URL:-}" ]; then
    # shellcheck source=/dev/null
    if source tests/postgres.sh >/dev/null 2>tests/.postgres.log; then
        export ACTSEARCH_TEST_PG_URL
    elif [ -n "${CI:-}" ] && [ "${CI}" != 0 ] && [ "${CI}" != false ]; then
        say "CI must test the PostgreSQL store, but no server could be started:"; tail -n 5 tests/.postgres.log >&2
        exit 1
    else
        say "no PostgreSQL server could be started (tests/.postgres.log says why): its store tests are left out; ACTSEARCH_TEST_PG_URL=postgresql://... names one"
    fi
fi

exec "$@"
