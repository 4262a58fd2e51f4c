#!/usr/bin/env bash
# Docker HEALTHCHECK: GET /healthz on the HTTP port of whichever daemon is PID 1, read
# from the same environment variable that configured it.
set -euo pipefail
# The role may be given (tests run this outside a container); in a container the daemon
# is PID 1, exec'd by ims-entrypoint.
role=${1:-$(basename "$(tr '\0' '\n' </proc/1/cmdline | head -n1)")}
case "$role" in
hss-stub) addr="${HSS_HTTP:-127.0.0.1:8080}" ;;
scscf) addr="${SCSCF_HTTP:-127.0.0.1:8082}" ;;
pcscf) addr="${PCSCF_HTTP:-127.0.0.1:8081}" ;;
*) exit 0 ;; # the ue container has nothing to serve
esac
host=${addr%:*}
port=${addr##*:}
case "$host" in 0.0.0.0 | '*' | '[::]') host=127.0.0.1 ;; esac
exec curl -fsS --max-time 2 -o /dev/null "http://$host:$port/healthz"
