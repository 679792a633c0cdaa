#!/usr/bin/env bash
# Installs the etcd server that registry/etcd's tests start (internal/testenv/etcd.go):
# Debian's etcd-server package, pinned. A package install takes seconds where building
# go.etcd.io/etcd/server/v3 from source takes minutes on CI's two cores; the 3.4 server
# speaks the v3 API that go.etcd.io/etcd/client/v3 v3.7 uses (KV, leases, watches, auth).
# The package's service is not started: tests run their own servers on loopback ports.
set -euo pipefail

version=3.4.23-4+b4
if dpkg-query -W -f='${Version}' etcd-server 2>/dev/null | grep -qxF "$version"; then
	echo "etcd-server $version already installed"
	exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "etcd-server=$version"
# Debian starts the packaged service where an init system runs; tests need none of it.
if command -v systemctl >/dev/null && systemctl is-active --quiet etcd 2>/dev/null; then
	$sudo systemctl disable --now etcd || true
fi
etcd --version | head -1
