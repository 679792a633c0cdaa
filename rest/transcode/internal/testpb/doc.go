// Package testpb is the service the transcoding tests serve, with grpc-gateway's generated
// handler for it (bookstore.pb.gw.go) as the reference the tests and benchmarks compare
// with. Only tests import it.
package testpb

//go:generate ./gen.sh
