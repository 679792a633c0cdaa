#!/usr/bin/env bash
# Installs Debian's protoc at a pinned version, with the well-known types it compiles
# against. Tianshu itself never needs it (tianshu gen compiles protos in process);
# cmd/tianshu/internal/protoc's tests run it to prove their output equals protoc's.
# protobuf-compiler only recommends libprotobuf-dev, where Debian keeps
# google/protobuf/*.proto, so with --no-install-recommends both are named.
set -euo pipefail
version="3.21.12-3+deb12u1"
wkt=/usr/include/google/protobuf/duration.proto
installed() { [ "$(dpkg-query -W -f='${Status} ${Version}' "$1" 2>/dev/null || true)" = "install ok installed $version" ]; }
if installed protobuf-compiler && installed libprotobuf-dev && [ -f "$wkt" ]; then
	echo "protobuf-compiler and libprotobuf-dev $version are installed"
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
sudo_if_needed apt-get update -q
sudo_if_needed apt-get install -y -q --no-install-recommends "protobuf-compiler=$version" "libprotobuf-dev=$version"
protoc --version
if [ ! -f "$wkt" ]; then
	echo "protoc.sh: $wkt is missing after installing libprotobuf-dev: protoc cannot compile the well-known types" >&2
	exit 1
fi
