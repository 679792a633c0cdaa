#!/usr/bin/env bash
# Checks, before anything is installed or built, that the machine has what the install
# scripts cannot install themselves: Go at the version go.mod names, Rust's cargo (rnacos is
# built from crates.io), a JDK with Maven (ZooKeeper and the Java Dubbo peer), git, and apt
# for Debian's packages. It fails at once naming every missing thing and how to get it,
# instead of twenty minutes later inside a test. install-test-deps.sh runs it first.
set -euo pipefail
cd "$(dirname "$0")/../.."

missing=()
need() { # command, how to get it
	command -v "$1" >/dev/null 2>&1 || missing+=("$1: $2")
}
need go "install Go $(awk '/^go /{print $2}' go.mod) or newer from https://go.dev/dl"
need git "apt-get install git"
need cargo "install Rust with rustup (https://rustup.rs); rnacos, the Nacos test server, is built with cargo"
need java "apt-get install openjdk-17-jdk-headless (ZooKeeper and the Java Dubbo peer run on it)"
need javac "apt-get install openjdk-17-jdk-headless (the Java Dubbo peer is compiled)"
need mvn "apt-get install maven (builds the Java Dubbo peer)"
need dpkg-query "a Debian-based system: ZooKeeper, etcd and protoc come from Debian 12's packages"
need apt-get "a Debian-based system: ZooKeeper, etcd and protoc come from Debian 12's packages"
if [ "$(id -u)" -ne 0 ]; then need sudo "run as root or install sudo: Debian packages are installed with apt-get"; fi

if command -v go >/dev/null 2>&1; then
	want=$(awk '/^go /{print $2}' go.mod)
	have=$(go env GOVERSION | sed 's/^go//')
	# sort -V puts the smaller version first; go.mod's line is the minimum.
	if [ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -1)" != "$want" ]; then
		missing+=("go $want or newer: this is go $have (https://go.dev/dl)")
	fi
fi

if [ ${#missing[@]} -gt 0 ]; then
	echo "The tests need these, which this machine lacks:" >&2
	printf '  - %s\n' "${missing[@]}" >&2
	exit 1
fi
echo "prerequisites: go $(go env GOVERSION | sed 's/^go//'), $(cargo --version), $(javac -version 2>&1), $(mvn -B -v 2>/dev/null | head -1)"
