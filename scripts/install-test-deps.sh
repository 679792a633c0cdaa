#!/usr/bin/env bash
# Installs, idempotently and at pinned versions, everything the tests need beyond Go's own
# module downloads. Each server has its own script in scripts/install/; binaries it builds
# land in the tools directory outside the checkout (scripts/tools-dir.sh) or come from
# Debian packages.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== test dependencies"
go mod download
for s in scripts/install/*.sh; do
	[ -e "$s" ] || continue
	echo "-- $s"
	bash "$s"
done
