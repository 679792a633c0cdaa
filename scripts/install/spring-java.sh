#!/usr/bin/env bash
# Builds the Spring Boot peer of the Spring Cloud interoperability tests (interop/spring-java)
# into <tools>/spring-java/spring-interop.jar, with its libraries in lib/ beside it (<tools> as
# scripts/tools-dir.sh prints it). It lands in the tools directory rather than in the checkout,
# unlike the Dubbo peer: its libraries are ~70 MB of Spring, and CI's fresh clone would copy
# and package them again on every run; keyed by the inputs' hash, one build serves every clone
# with the same sources. Versions are pinned by the pom's parent and BOM; every Maven download
# happens here, so the tests run offline. Does nothing when the jar was built from the current
# pom, Java sources and resources.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
project="$root/interop/spring-java"
out="$(bash "$root/scripts/tools-dir.sh")/spring-java"
jar="$out/spring-interop.jar"
stamp="$out/.inputs.sha256"

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v mvn >/dev/null || ! command -v javac >/dev/null; then
	# Debian 12's Maven 3.8.7 and OpenJDK 17 (the JDK: javac compiles the peer).
	export DEBIAN_FRONTEND=noninteractive
	sudo_if_needed apt-get update -q
	sudo_if_needed apt-get install -y -q --no-install-recommends maven openjdk-17-jdk-headless
fi

# The hash interop/springpeer_test.go recomputes to refuse a jar built from other sources:
# sha256 of the lines "<sha256>  <path>" of every input file, in byte order of their paths.
inputs() {
	cd "$project"
	find pom.xml src -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
}

want="$(inputs)"
if [ -f "$jar" ] && [ -d "$out/lib" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
	echo "Spring Boot peer is up to date: $jar"
	exit 0
fi

# Maven builds in a scratch copy, so that the checkout gets no target/ directory.
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
cp -r "$project/pom.xml" "$project/src" "$build/"
(cd "$build" && mvn -q -B -Dstyle.color=never package)
mkdir -p "$out"
rm -rf "$out/lib" "$jar" "$stamp"
mv "$build/target/lib" "$out/lib"
mv "$build/target/spring-interop.jar" "$jar"
echo "$want" >"$stamp"
echo "built $jar"
