#!/usr/bin/env bash
# Installs the third-party peers the tests run against, from Debian's packages, when missing:
# softflowd (exporter), tshark/editcap (decoding oracle, pcapng), fprobe, nfdump, pmacct, and
# chromium (the browser the dashboard's end-to-end tests drive with playwright-core), promtool
# (Prometheus rules and config of deploy/), and kubernetes-validate from PyPI (the Kubernetes JSON
# schemas, for deploy/k8s) in a virtualenv under ~/.cache/flowwatch.
# Needs root or sudo when something is missing; does nothing when all are present.
set -euo pipefail

# kubernetes-validate: test/k8s.test.ts reads this version and runs the venv's command.
KUBERNETES_VALIDATE_VERSION=1.37.0
kv_dir="${XDG_CACHE_HOME:-$HOME/.cache}/flowwatch/kubernetes-validate-$KUBERNETES_VALIDATE_VERSION"
if [ ! -f "$kv_dir/.complete" ]; then
  echo "test tools: installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION (PyPI) in $kv_dir"
  rm -rf "$kv_dir"
  python3 -m venv "$kv_dir"
  "$kv_dir/bin/pip" install -q --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
  touch "$kv_dir/.complete" # a partial install is never mistaken for a complete one
fi

declare -A pkg=([softflowd]=softflowd [tshark]=tshark [editcap]=wireshark-common [fprobe]=fprobe [nfdump]=nfdump [nfacctd]=pmacct [chromium]=chromium [promtool]=prometheus)
missing=()
for bin in "${!pkg[@]}"; do
  command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || missing+=("${pkg[$bin]}")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "test tools: all present"
  exit 0
fi
echo "test tools: installing ${missing[*]} (Debian packages)"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "test tools: missing ${missing[*]}; run as root or install them with apt-get" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "test tools: installed ${missing[*]}"
