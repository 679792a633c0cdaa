// Package nacos is a config.Source over Nacos 2 configuration: dataIds of one group in one
// namespace, each a document, listened for changes and read again on every change and every
// WithPoll interval (to see deletes, which not every server notifies).
//
//	src, err := nacosconfig.New(ctx, []string{"nacos:8848"}, []string{"orders.yaml"},
//		nacosconfig.WithNamespace("prod"), nacosconfig.WithGroup("orders"))
//	if err != nil { ... } // ErrInvalidConfig, ErrUnauthorized
//	defer src.Close()
//	cfg, err := config.New(ctx, []config.Source{file.New("app.yaml"), src})
//
// Sources share the SDK client with registry/nacos: a Registry and a Source on the same
// servers and settings hold one connection, and the SDK's traps (its log rotator, its local
// snapshot answering for an unreachable server) are handled once, there. With a URL such
// as registry.Open takes, registry/nacos's ParseURL and ConfigOptions give the options.
//
// These names moved here from registry/nacos, where NewSource and Source stay one release
// as deprecated aliases.
package nacos
