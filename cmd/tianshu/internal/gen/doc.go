// Package gen writes the skeleton of a Tianshu service from templates embedded in the
// binary: a .proto file whose rpc has a google.api.http rule, a server stub answering gRPC
// and, through rest/transcode on a rest.Server, REST/JSON, main.go wired with config,
// registry, tracing, admin probes and graceful shutdown, a test that calls the service
// through discovery over both, a client example of both, a Makefile, a Dockerfile, a
// compose file and Kubernetes manifests. The gRPC stubs come from a StubFunc (the tianshu
// command passes protoc.Generate).
//
// Regenerate is `tianshu gen`: it rewrites the stubs, removes those an earlier run made
// from the same .proto files that no longer come out of them (a removed service's
// _grpc.pb.go), and appends to each implementation (a type embedding
// Unimplemented…Server) a method answering Unimplemented for every rpc it lacks, leaving
// the existing code byte for byte.
//
//	o := gen.Options{Name: "orders", Module: "example.com/orders"}
//	files, err := gen.New(ctx, "orders", o, stubs)
package gen
