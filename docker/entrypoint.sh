#!/usr/bin/env bash
# Container entry point: `hss-stub`, `scscf` or `pcscf` exec the daemon (configured by its
# HSS_*/SCSCF_*/PCSCF_* environment); `ue-register` provisions and registers the demo UE.
set -euo pipefail

# Overridable so tests/integration/test_compose_netns.py can run this very script on
# the host with the build tree's binaries.
bin_dir="${IMS_BIN_DIR:-/usr/local/bin}"
scenario="${IMS_SIPP_SCENARIO:-/usr/share/ims/ue-register.xml}"

role="${1:-pcscf}"
shift || true
case "$role" in
hss-stub | scscf | pcscf)
    # exec: the daemon becomes PID 1 and receives docker stop's SIGTERM itself.
    exec "$bin_dir/$role" "$@"
    ;;
ue-register)
    : "${UE_PCSCF:?UE_PCSCF (host:port of the P-CSCF) is required}"
    : "${UE_DOMAIN:?UE_DOMAIN is required}"
    : "${UE_IMSI:?UE_IMSI is required}"
    : "${UE_PASSWORD:?UE_PASSWORD is required}"
    if [ -n "${UE_HSS:-}" ]; then
        # 201 created or 409 already there are both fine: the point is that it exists.
        body=$(printf '{"imsi":"%s","msisdn":"%s","auth":{"scheme":"digest","password":"%s"}}' \
            "$UE_IMSI" "${UE_MSISDN:-}" "$UE_PASSWORD")
        [ -z "${UE_MSISDN:-}" ] && body=${body/\"msisdn\":\"\",/}
        code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
            --data "$body" "$UE_HSS/api/v1/subscribers")
        case "$code" in
        201 | 409) echo "ue-register: demo subscriber present in the HSS ($code)" ;;
        *) echo "ue-register: provisioning at $UE_HSS failed with HTTP $code" >&2; exit 1 ;;
        esac
    fi
    cd "${TMPDIR:-/tmp}"
    exec sipp "$UE_PCSCF" -sf "$scenario" -m 1 -s "$UE_IMSI" -au "$UE_IMSI" -ap "$UE_PASSWORD" \
        -auth_uri "$UE_DOMAIN" -key domain "$UE_DOMAIN" -t "${UE_TRANSPORT:-u1}" -nostdin \
        -timeout 30s -timeout_error -recv_timeout 5000 -trace_msg -message_file /dev/stdout "$@"
    ;;
*)
    echo "ims-entrypoint: unknown role '$role' (hss-stub|scscf|pcscf|ue-register)" >&2
    exit 2
    ;;
esac
