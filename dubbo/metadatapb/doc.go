// Package metadatapb holds the protobuf messages and gRPC stubs of Dubbo 3.3's
// MetadataServiceV2 (org.apache.dubbo.metadata), generated from metadata_service_v2.proto,
// whose names and field numbers match the descriptor compiled into Dubbo 3.3.5. Package
// dubbo/metadataservice serves and calls it.
package metadatapb

// Needs protoc and, on PATH (go install ...@version): protoc-gen-go v1.36.12 and
// protoc-gen-go-grpc v1.6.2, the versions of google.golang.org/protobuf and grpc's stubs
// that go.mod uses.
//go:generate protoc -I. --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative metadata_service_v2.proto
