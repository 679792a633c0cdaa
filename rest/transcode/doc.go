// Package transcode serves gRPC methods annotated with google.api.http as REST/JSON, from
// their descriptors at run time: no protoc plugin, no generated gateway code.
//
//	h, err := transcode.New(transcode.Local(&pb.Books_ServiceDesc, books))
//	http.ListenAndServe(addr, h)
//
// A service is served in one of two ways. Local calls the implementation's handlers in
// process, as a grpc.Server would after decoding a request, with no loopback hop; it takes
// the grpc.ServiceDesc and implementation that the generated Register<Service>Server
// passes, because a *grpc.Server does not hand out its implementations. Remote
// calls the service through a grpc.ClientConnInterface, such as a connection dialled with
// tianshu:///<service> so that the registry finds its instances: that is the gateway's way.
//
// Every part of an HttpRule is honoured: path templates with variables, "*", "**", field
// paths ({name=shelves/*/books/*}) and custom verbs; body "*" or one field; response_body;
// additional_bindings; query parameters onto the remaining fields, nested (author.name),
// repeated (ids=1&ids=2), enums by name or number, and well-known types in their protojson
// form (since=2020-01-02T03:04:05Z, maxRead=1.5s); only map fields cannot be set from a
// query. Requests and responses are protojson, as grpc-gateway writes them;
// WithEmitUnpopulated writes zero fields too. A server-streaming method answers
// newline-delimited JSON (application/x-ndjson), one {"result": message} per line, flushed
// as it comes.
//
// Request headers reach the method as gRPC metadata, and a Grpc-Timeout header sets the
// call's deadline; header metadata the method sets comes back as Grpc-Metadata-<key>
// headers.
//
// Every error is rpc/httperr's {code, message, details}, with the HTTP status of its gRPC
// code. Bad input is answered before the method runs: JSON that does not decode is 400
// naming the field path ("field book.author.born"); no route is 404; a known path with
// another method is 405 with Allow; a body over WithBodyLimit (4 MiB by default) is 413;
// a query parameter that names no field is ignored, or 400 naming it under
// WithStrictQuery.
package transcode
