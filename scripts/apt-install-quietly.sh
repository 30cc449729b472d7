#!/usr/bin/env bash
# Install Debian packages for the test suite without starting their services.
#
#     bash scripts/apt-install-quietly.sh PACKAGE...
#
# Run as root (start-postgres.sh and start-prometheus.sh check first). The
# packages' own init scripts are kept from starting a system PostgreSQL or
# Prometheus: the tests start their own, and a container has no init system
# to ask anyway. All output goes to stderr; exits with apt-get's status.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
policy=/usr/sbin/policy-rc.d
policy_added=false
if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && policy_added=true
fi
rc=0
{ apt-get update && apt-get install -y --no-install-recommends "$@"; } >&2 || rc=$?
if $policy_added; then rm -f "$policy"; fi
exit $rc
