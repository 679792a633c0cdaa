#!/usr/bin/env bash
# Builds the Java Dubbo 3 peer of the interoperability tests (interop/dubbo-java) into
# interop/dubbo-java/target/dubbo-interop.jar, with its libraries in target/lib. Every Maven
# download (Dubbo, its ZooKeeper and Nacos clients, protoc and Dubbo's Triple stub generator)
# happens here, so the tests run offline. Versions are pinned in the pom. The script does
# nothing when the jar was built from the current pom, Java source and .proto.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
project="$root/interop/dubbo-java"
jar="$project/target/dubbo-interop.jar"
stamp="$project/target/.inputs.sha256"

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v mvn >/dev/null || ! command -v javac >/dev/null; then
	# Debian 12's Maven 3.8.7 and OpenJDK 17 (the JDK: javac compiles the peer).
	export DEBIAN_FRONTEND=noninteractive
	sudo_if_needed apt-get update -q
	sudo_if_needed apt-get install -y -q --no-install-recommends maven openjdk-17-jdk-headless
fi

inputs() {
	cd "$project"
	find pom.xml src ../interoppb -type f \( -name pom.xml -o -name '*.java' -o -name '*.proto' \) -print0 \
		| sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
}

want="$(inputs)"
if [ -f "$jar" ] && [ -d "$project/target/lib" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
	echo "Dubbo Java peer is up to date: $jar"
	exit 0
fi

cd "$project"
mvn -q -B -Dstyle.color=never clean package
echo "$want" >"$stamp"
echo "built $jar"
