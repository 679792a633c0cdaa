#!/usr/bin/env bash
# Installs ZooKeeper for the tests of registry/zookeeper: Debian's zookeeperd at a pinned
# version. Only its jars are used: internal/testenv starts ZooKeeperServerMain itself with
# a per-test configuration, so the package's own service is neither needed nor started.
set -euo pipefail

version="3.8.0-11+deb12u2"

if [ "$(dpkg-query -W -f='${Status} ${Version}' zookeeperd 2>/dev/null || true)" = "install ok installed $version" ]; then
	echo "zookeeperd $version is installed"
	exit 0
fi

export DEBIAN_FRONTEND=noninteractive
sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
sudo_if_needed apt-get update -q
# policy-rc.d-free containers may refuse to start the service; that does not matter here.
sudo_if_needed apt-get install -y -q --no-install-recommends "zookeeperd=$version" "zookeeper=$version" \
	|| sudo_if_needed apt-get install -y -q "zookeeperd=$version" "zookeeper=$version"
java -version 2>&1 | head -1
ls /usr/share/java/zookeeper.jar
