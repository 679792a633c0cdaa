#!/usr/bin/env bash
# Installs the Nacos 2 compatible server that registry/nacos's tests start
# (internal/testenv/nacos.go): the crate rnacos, a Nacos server written in Rust, at a pinned
# version under rnacos/ in the tools directory (scripts/tools-dir.sh). It speaks the Nacos 2 gRPC protocol that
# nacos-sdk-go/v2 uses and needs no JVM; the build takes several minutes on two cores, so the
# script does nothing when the pinned version is already there.
set -euo pipefail

version=0.8.8
cd "$(dirname "$0")/../.."
root="$(bash scripts/tools-dir.sh)/rnacos"
bin="$root/bin/rnacos"

if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -qF "$version"; then
	echo "rnacos $version already installed at $bin"
	exit 0
fi
if ! command -v cargo >/dev/null; then
	echo "cargo is needed to build rnacos: install Rust from https://rustup.rs" >&2
	exit 1
fi
# Optimisation level 1 instead of the crate's 3 roughly halves the build; the tests need a
# correct server, and its naming pushes wait on a 500 ms timer either way.
CARGO_PROFILE_RELEASE_OPT_LEVEL=1 cargo install rnacos --version "$version" --locked --root "$root"
"$bin" --version
