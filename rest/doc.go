// Package rest is Tianshu's HTTP side: the HTTP services a team finds in its registry and the
// ones it runs, on the same registry, balancers, breakers and telemetry as its gRPC services.
//
// It holds three things, each built on the packages the gRPC side already uses:
//
//   - a client: an http.RoundTripper that resolves http://<service>/ and https://<service>/
//     through a registry.Discovery, picks an instance with loadbalance/pick, guards each
//     service with a breaker, retries idempotent requests under a retry budget and
//     propagates the trace context; hosts that are not services pass through, so one
//     http.Client calls both;
//   - a server: an http.Server that registers an instance with an http or https endpoint
//     once it listens and shuts down in Tianshu's order, as a component of tianshu.App;
//   - REST/JSON for gRPC services, in package rest/transcode: the google.api.http
//     annotations of a service's descriptors served as JSON over HTTP, with no protoc
//     plugin.
//
// Every error that this package writes to an HTTP client is the project's one JSON error
// body, rpc/httperr's {code, message, details}.
package rest
