#!/usr/bin/env bash
# Installs what Tianshu's tests need and runs them all: formatting, vet, and every test
# with the race detector. This is the README's test command, and .ci/run runs exactly it.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.tools/*'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== go test -race"
go test -race -count=1 -timeout 20m "$@" ./...

echo "== fuzz (each target for a short bounded time; failing inputs land in testdata/fuzz)"
FUZZTIME="${FUZZTIME:-10s}" bash scripts/fuzz.sh
