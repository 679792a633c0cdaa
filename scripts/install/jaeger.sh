#!/usr/bin/env bash
# Builds the Jaeger v2 all-in-one server that the tracing tests export to
# (internal/testenv/jaeger.go) into the tools directory (scripts/tools-dir.sh), from the
# tools module in internal/tools/jaeger, which pins its version (`go get -tool
# github.com/jaegertracing/jaeger/cmd/jaeger@vX` there to change it). The build takes many
# minutes on two cores, so it is skipped while jaeger.version there names the pinned version.
set -euo pipefail
cd "$(dirname "$0")/../.."

tools=$(bash scripts/tools-dir.sh)
version=$(cd internal/tools/jaeger && go list -m -f '{{.Version}}' github.com/jaegertracing/jaeger)
stamp="$tools/jaeger.version"
if [ -x "$tools/jaeger" ] && [ "$(cat "$stamp" 2>/dev/null || true)" = "$version" ]; then
	echo "jaeger $version is built in $tools"
	exit 0
fi
mkdir -p "$tools"
echo "building jaeger $version into $tools (many minutes on two cores)"
(cd internal/tools/jaeger && go build -trimpath -o "$tools/jaeger.tmp" github.com/jaegertracing/jaeger/cmd/jaeger)
mv -f "$tools/jaeger.tmp" "$tools/jaeger"
echo "$version" >"$stamp"
"$tools/jaeger" version 2>/dev/null | head -3 || true
