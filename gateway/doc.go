// Package gateway is Tianshu's API gateway as a library: routes read from any config
// source, matched by host, path, method, headers and query, each with its own middleware
// (CORS, body limit, JWT or API keys, rate limits, timeout, retries under a budget, a
// breaker, a canary split), forwarded through package rest's discovery-aware client to a
// service of the registry or to fixed URLs, and gRPC passed through with its trailers.
// Command tianshu-gateway runs it; embed it to add Go middleware (WithMiddleware).
//
// A route set is one document under the key "gateway" of any config source:
//
//	gateway:
//	  routes:
//	    - name: orders
//	      match: {host: api.example.com, path: {prefix: /api/orders}, methods: [GET, POST]}
//	      target: {service: orders}        # or urls: [http://10.0.0.5:8080]; protocol: grpc
//	      rewrite: {prefix: /orders}
//	      canary: {target: {service: orders-v2}, weight: 10, header: {name: X-Canary}}
//	      timeout: 2s
//	      retries: {attempts: 3}           # idempotent requests only, within 10% of requests
//	      rateLimit: {rate: 100, burst: 20, perConsumer: {header: X-API-Key, rate: 10, burst: 5}}
//	      auth: {jwt: {secret: "${JWT_SECRET}"}}
//	      maxBodyBytes: 1048576            # 413 above; maxResponseBytes: 502 or a cut answer
//	    - name: billing                    # mutual TLS to the upstream
//	      match: {path: {prefix: /billing}}
//	      target: {urls: ["https://10.0.0.7:8443"], tls: {caFile: ca.pem, certFile: gw.pem, keyFile: gw-key.pem}}
//
// The document is read strictly (a key no field reads is an error) and validated whole;
// every fault names its place ("routes[3].match.path: ..."). It compiles into an immutable
// table that a request loads once: Apply and Watch swap tables atomically, so a change
// never closes a connection and a request finishes on the table it started with; only the
// upgraded connections (WebSocket) and gRPC calls of a route the change removed are
// closed, after the drain time (WithDrain). An invalid set is rejected whole, the routes
// in force stay, and the error is reported once.
//
// The shortest use:
//
//	g, err := gateway.New(gateway.WithDiscovery(reg))
//	if err != nil { ... }
//	defer g.Close()
//	if err := g.Watch(ctx, []config.Source{file.New("gateway.yaml")}); err != nil { ... }
//	srv := g.HTTPServer(":8080")
//	go srv.ListenAndServe()
//	admin := &http.Server{Addr: "127.0.0.1:9901", Handler: g.AdminHandler()}
//
// What a request meets, in order: path cleaning (dot segments resolved; an encoded slash
// or a backslash refused), the route lookup (404 without a route), telemetry (a server
// span joining the caller's trace, the duration per route), CORS preflights, the body
// limit, authentication, the route's rate limit and the consumer's, the path rewrite, the
// timeout, the user's middleware, the canary decision and the upstream: rest's client
// picks an instance with loadbalance/pick, asks the upstream's breaker, retries idempotent
// requests under the retry budget and records a client span per attempt. Every answer the
// gateway gives itself is rpc/httperr's JSON error body (see Gateway).
//
// A target with transcode serves a registry service's gRPC methods as REST/JSON by their
// google.api.http rules, through package rest/transcode:
//
//	target: {service: inventory, transcode: {services: [shop.v1.Inventory], reflection: true}}
//
// Its calls go over one tianshu:/// connection per service (rpc.Dial: the registry's
// resolver, loadbalance's balancer, telemetry; see WithGRPCTelemetry), shared by the routes
// and closed a drain time after the last route using it goes, with the route's breaker and
// retries (idempotent requests only) around each call; a gRPC error is answered with
// rpc/httperr's body and the HTTP status of its code. The descriptors come from a
// descriptor set file, the program's generated packages or server reflection (see
// Transcode for which to pick). A descriptor set or linked service that is missing makes the
// route set invalid; reflection that has not answered yet makes the route answer 503 while
// the gateway asks again, so that an upstream that is down does not hold back the rest.
//
// Rate limits are per process: a cluster-wide limit would need a shared counter (Redis,
// or a coordinator handing each gateway a share of the rate), not built here.
package gateway
