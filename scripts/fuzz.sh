#!/usr/bin/env bash
# Runs every fuzz target of the repository for a short, bounded budget each (FUZZTIME,
# default 30000x: thirty thousand inputs), one after the other. The budget is a count, not a
# duration: with a duration, Go 1.26's fuzz coordinator can report "context deadline
# exceeded" as a failure when the time runs out under load, with no failing input
# (go.dev/issue/75804, fixed in Go 1.27); CI hit it. 30000 inputs take 1-30 s per target
# here. Targets are found with `go test -list '^Fuzz'` in each package
# that has a Fuzz function in a _test.go file, so a new target is picked up without editing
# this script. The corpus is kept: inputs that fail land in <package>/testdata/fuzz/<Target>/
# (commit them: they become regression tests that plain `go test` runs), and the inputs the
# fuzzer found interesting stay in Go's cache ($(go env GOCACHE)/fuzz) for the next run.
#
# Usage: bash scripts/fuzz.sh [package pattern...]   (default ./...)
#        FUZZTIME=200000x bash scripts/fuzz.sh ./registry/...   (or a duration: FUZZTIME=30s)
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime="${FUZZTIME:-30000x}"
patterns=("$@")
[ ${#patterns[@]} -eq 0 ] && patterns=(./...)

# Packages whose test files declare a fuzz target; listing only these avoids building the
# test binary of every package.
mapfile -t pkgs < <(go list -f '{{.Dir}} {{.ImportPath}}' "${patterns[@]}" |
	while read -r dir path; do
		if grep -qs '^func Fuzz' "$dir"/*_test.go; then echo "$path"; fi
	done)

failed=()
count=0
start=$SECONDS
for pkg in "${pkgs[@]}"; do
	# A package whose tests do not build fails the run rather than silently fuzzing nothing.
	if ! listed=$(go test -list '^Fuzz' "$pkg" 2>&1); then
		echo "$listed"
		failed+=("$pkg (tests do not build)")
		continue
	fi
	mapfile -t targets < <(grep '^Fuzz' <<<"$listed" || true)
	for target in "${targets[@]}"; do
		count=$((count + 1))
		echo "== fuzz $pkg $target ($fuzztime)"
		# -run='^$' skips the unit tests; -fuzz needs a pattern matching exactly one target.
		if ! go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" "$pkg"; then
			failed+=("$pkg $target")
		fi
	done
done

echo "== fuzzed $count targets in $((SECONDS - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
	echo "failing fuzz targets (the input is in the package's testdata/fuzz/<Target>/; rerun with"
	echo "  go test -run '<Target>/<file>' <package>):"
	printf '  %s\n' "${failed[@]}"
	exit 1
fi
