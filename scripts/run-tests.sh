#!/usr/bin/env bash
# Install what the tests need and run the whole suite.
#   - as root (CI, a fresh Debian machine): apt-get installs the system packages
#     (miniupnpd-nftables, miniupnpc, iproute2, nftables, iptables, chromium, ...);
#   - a virtualenv in .venv gets the package and its test dependencies;
#   - pytest runs everything; tests needing root/namespaces skip with a reason when not root,
#     every run ends with 'skipped: N' and the reasons, and under CI=true a skip fails the
#     run unless the test is marked allow_skip_in_ci (tests/skip_policy.py).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  miniupnpd-nftables miniupnpc iproute2 nftables iptables chromium lsof
  procps util-linux cron systemd python3-venv
  prometheus prometheus-node-exporter openssh-server openssh-client
  redis-server memcached postgresql   # test_probe_real, test_real_servers_debian: started by hand
)

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # miniupnpd's, prometheus', node_exporter's, sshd's, postgresql's, redis' and
    # memcached's postinst must not start a daemon on the host's real interfaces (the
    # tests start their own, inside namespaces).
    made_policy=no
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
      made_policy=yes
    fi
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    [ "$made_policy" = no ] || rm -f /usr/sbin/policy-rc.d
  fi
else
  echo "== not root (or no apt-get): system packages not installed; tests needing them will skip"
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
# Editable: the tests import the working tree (exposure_audit/, rules/, reports/), never a
# stale installed copy.
.venv/bin/python -m pip install -q -e ".[test]"

# Never send UPnP/SSDP traffic from the host namespace while testing.
export EXPOSURE_AUDIT_NO_UPNP=1
.venv/bin/ruff check exposure_audit tests bench
.venv/bin/ruff format --check exposure_audit tests bench
.venv/bin/mypy
exec .venv/bin/python -m pytest -q "$@"
