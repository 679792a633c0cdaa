// Package shoppb holds the shop demo's protobuf messages and grpc-go stubs, generated from
// shop.proto by protoc-gen-go and protoc-gen-go-grpc and checked in. Orders' methods carry
// google.api.http rules, which the front door's transcode route serves as REST/JSON; the
// descriptors it reads are the ones this package links into the program. Regenerate with
// (protoc 3.21.12, protoc-gen-go v1.36.12 and protoc-gen-go-grpc v1.6.2 on PATH):
//
//	examples/shop/shoppb/gen.sh
//
// which compiles shop.proto against google/api/annotations.proto as the genproto module
// links it (gendeps.go writes those descriptors for protoc --descriptor_set_in).
package shoppb
