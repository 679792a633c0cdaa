#!/usr/bin/env bash
# Builds the Spring servers the tests run against (internal/testenv/springserver: one Spring
# Boot 4.0.7 application serving a Spring Cloud Netflix Eureka server and a Spring Cloud
# Config Server, BOM 2025.1.4) into <tools>/spring-servers/spring-servers.jar, a runnable
# jar started by internal/testenv/spring.go. Every Maven download happens here, so the tests
# run offline; versions are pinned in the pom. The build runs on a copy of the project in
# the tools directory, so the checkout gets no target/ directory. The script does nothing
# when the jar was built from the current pom, Java source and properties.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
project="$root/internal/testenv/springserver"
out="$(bash "$root/scripts/tools-dir.sh")/spring-servers"
jar="$out/spring-servers.jar"
stamp="$out/.inputs.sha256"

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v mvn >/dev/null || ! command -v javac >/dev/null; then
	# Debian 12's Maven 3.8.7 and OpenJDK 17 (the JDK: javac compiles the application).
	export DEBIAN_FRONTEND=noninteractive
	sudo_if_needed apt-get update -q
	sudo_if_needed apt-get install -y -q --no-install-recommends maven openjdk-17-jdk-headless
fi

inputs() {
	cd "$project"
	find pom.xml src -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
}

want="$(inputs)"
if [ -f "$jar" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
	echo "Spring servers are up to date: $jar"
	exit 0
fi

mkdir -p "$out"
build="$out/build"
rm -rf "$build"
mkdir -p "$build"
cp -R "$project/pom.xml" "$project/src" "$build/"
(cd "$build" && mvn -q -B -Dstyle.color=never package)
# Written beside the old jar and renamed, so that a test starting meanwhile never reads half
# a jar.
cp "$build/target/spring-servers.jar" "$jar.tmp"
mv "$jar.tmp" "$jar"
rm -rf "$build"
echo "$want" >"$stamp"
echo "built $jar"
