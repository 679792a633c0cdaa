#!/usr/bin/env bash
# Installs Debian's protoc at a pinned version. Tianshu itself never needs it (tianshu gen
# compiles protos in process); cmd/tianshu/internal/protoc's tests run it to prove their
# output equals protoc's.
set -euo pipefail
version="3.21.12-3+deb12u1"
if [ "$(dpkg-query -W -f='${Status} ${Version}' protobuf-compiler 2>/dev/null || true)" = "install ok installed $version" ]; then
	echo "protobuf-compiler $version is installed"
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
sudo_if_needed apt-get update -q
sudo_if_needed apt-get install -y -q --no-install-recommends "protobuf-compiler=$version"
protoc --version
