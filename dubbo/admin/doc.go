// Package admin applies the governance rules Dubbo Admin writes to Tianshu consumers of
// Dubbo services. It watches Dubbo's config centre (ZooKeeper nodes under
// /dubbo/config/dubbo, or Nacos dataIds of group dubbo) for the keys that concern one
// consumer, translates the rules with package dubbo (RuleScope.Translate: weight and
// disabled overrides of provider addresses, tags given by the tag router) and keeps the
// result in a rules.Store, which rpc.WithRules applies like any other governance rules:
// no second balancer, a change moves the next calls without reconnecting.
//
//	w, err := admin.Watch(ctx, admin.ZooKeeper(reg), dubbo.RuleScope{
//		Application: "shop",
//		Services: []dubbo.Reference{{Interface: "org.example.Greeter", Group: "g",
//			Version: "1.0.0", Providers: []string{"greeter-app"}}},
//	})
//	if err != nil { ... }
//	defer w.Close()
//	conn, err := rpc.Dial(ctx, "tianshu:///org.example.Greeter", rpc.WithDiscovery(reg),
//		rpc.WithDubbo("g", "1.0.0"), rpc.WithRules(w.Store()))
//
// A consumer that also follows its own rules document passes that Store with WithBase, and
// the Watcher's Store carries both. The provider applications of a service (whose
// configurators and tag router apply) are listed in the interface's mapping
// (/dubbo/mapping/<interface>, dubbo.ParseMapping) or in its providers' application
// parameter. A caller picks a tag for its calls with rpc.WithDubboTag.
//
// A rule that does not parse is logged once and left out, the last good version of it
// staying in force; what Tianshu cannot apply (condition routers, match conditions,
// force: true, parameters other than weight and disabled) is logged once, at info level.
package admin
