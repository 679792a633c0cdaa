#!/usr/bin/env bash
# Installs, idempotently and at pinned versions, everything the tests need beyond Go's own
# module downloads. Each server has its own script in scripts/install/; binaries it builds
# land in the tools directory outside the checkout (scripts/tools-dir.sh) or come from
# Debian packages.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== test dependencies"
bash scripts/install/prerequisites.sh
go mod download

# Jaeger (go build) and rnacos (cargo install) are built from source on a machine's first
# run: measured on a fresh 2-core VM, 14 and 22 minutes when built side by side, against
# 45 and more one after the other under load. They start first, in the background, with
# their output in a log each, and the rest installs meanwhile; a failed build fails the run
# and prints its log.
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
slow=(scripts/install/jaeger.sh scripts/install/nacos.sh)
pids=()
for s in "${slow[@]}"; do
	echo "-- $s (in the background)"
	bash "$s" >"$logs/$(basename "$s").log" 2>&1 &
	pids+=($!)
done
for s in scripts/install/*.sh; do
	[ -e "$s" ] || continue
	[ "$s" = scripts/install/prerequisites.sh ] && continue
	case " ${slow[*]} " in *" $s "*) continue ;; esac
	echo "-- $s"
	bash "$s"
done
failed=0
for i in "${!slow[@]}"; do
	log="$logs/$(basename "${slow[$i]}").log"
	if wait "${pids[$i]}"; then
		echo "-- ${slow[$i]}: done"; tail -n 3 "$log"
	else
		echo "-- ${slow[$i]} failed:" >&2; cat "$log" >&2; failed=1
	fi
done
[ "$failed" -eq 0 ]
