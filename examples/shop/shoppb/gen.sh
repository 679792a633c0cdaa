#!/bin/sh
# Regenerates shop.pb.go and shop_grpc.pb.go from shop.proto. Needs protoc (3.21.12:
# scripts/install/protoc.sh) and, on PATH, the plugins of the versions the files name:
#   GOBIN=$(mktemp -d) go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
#   GOBIN=... go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
# google/api/annotations.proto comes from the descriptors the genproto module links into Go
# (gendeps.go), so no copy of Google's .proto files is needed.
set -e
cd "$(dirname "$0")"
deps=$(mktemp)
trap 'rm -f "$deps"' EXIT
go run gendeps.go "$deps"
protoc --descriptor_set_in="$deps" -I. \
	--go_out=. --go_opt=paths=source_relative \
	--go-grpc_out=. --go-grpc_opt=paths=source_relative \
	shop.proto
