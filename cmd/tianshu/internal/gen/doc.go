// Package gen writes the skeleton of a Tianshu service from templates embedded in the
// binary: a .proto file, a server stub, main.go wired with config, registry, tracing, admin
// probes and graceful shutdown, a test that calls the service through discovery, a client
// example, a Makefile, a Dockerfile, a compose file and Kubernetes manifests. The gRPC stubs
// come from a StubFunc (the tianshu command passes protoc.Generate).
//
//	files, err := gen.New(ctx, "orders", gen.Options{Name: "orders", Module: "example.com/orders"}, stubs)
package gen
