// Package shoppb holds the shop demo's protobuf messages and grpc-go stubs, generated from
// shop.proto by protoc-gen-go and protoc-gen-go-grpc and checked in. Regenerate with:
//
//	cd examples/shop/shoppb && protoc --go_out=. --go_opt=paths=source_relative \
//		--go-grpc_out=. --go-grpc_opt=paths=source_relative shop.proto
package shoppb
