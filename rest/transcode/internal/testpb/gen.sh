#!/bin/sh
# Regenerates the test service's code. Needs protoc and, on PATH (go install ...@version):
# protoc-gen-go v1.36.12, protoc-gen-go-grpc v1.6.2, protoc-gen-grpc-gateway v2.34.0.
# Google's annotations come from the descriptors Go links in (gendeps.go), the well-known
# types from protoc's own include directory.
set -e
cd "$(dirname "$0")"
deps=$(mktemp)
trap 'rm -f "$deps"' EXIT
go run gendeps.go "$deps"
protoc --descriptor_set_in="$deps" -I. \
	--go_out=. --go_opt=paths=source_relative \
	--go-grpc_out=. --go-grpc_opt=paths=source_relative \
	--grpc-gateway_out=. --grpc-gateway_opt=paths=source_relative \
	bookstore.proto
