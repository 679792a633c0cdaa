package admin_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/dubbo/admin"
)

// A consumer of Greeter (group interop, version 1.0.0) follows the rules Dubbo Admin keeps
// for it. Here they are files; with ZooKeeper the backend is admin.ZooKeeper(reg), reg
// being the consumer's *zookeeper.Registry, and with Nacos admin.Nacos(servers). The
// Store goes to rpc.Dial next to rpc.WithDubbo:
//
//	conn, err := rpc.Dial(ctx, "tianshu:///tianshu.interop.v1.Greeter", rpc.WithDiscovery(reg),
//		rpc.WithDubbo("interop", "1.0.0"), rpc.WithRules(w.Store()))
func Example() {
	dir, err := os.MkdirTemp("", "dubbo-rules-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	// What Dubbo Admin writes to /dubbo/config/dubbo/<key> for "weight 200" and "disable".
	rule := `configVersion: v3.0
scope: service
key: interop/tianshu.interop.v1.Greeter:1.0.0
enabled: true
configs:
  - side: provider
    addresses: ["127.0.0.1:25001"]
    parameters: {weight: "200"}
  - side: provider
    addresses: ["127.0.0.1:25003"]
    parameters: {disabled: "true"}
`
	key := "tianshu.interop.v1.Greeter:1.0.0:interop" + dubbo.SuffixConfigurators
	if err := os.WriteFile(filepath.Join(dir, key), []byte(rule), 0o600); err != nil {
		panic(err)
	}
	w, err := admin.Watch(context.Background(), admin.Dir(dir), dubbo.RuleScope{
		Application: "shop",
		Services: []dubbo.Reference{{Interface: "tianshu.interop.v1.Greeter", Group: "interop", Version: "1.0.0",
			Providers: []string{"tianshu-interop-java-provider"}}},
	})
	if err != nil {
		panic(err)
	}
	defer w.Close()
	for _, in := range w.Store().Load().For("tianshu.interop.v1.Greeter").Instances {
		fmt.Printf("%s weight %d out %v\n", in.Address, in.Weight, in.Out)
	}
	// Output:
	// 127.0.0.1:25001 weight 200 out false
	// 127.0.0.1:25003 weight 0 out true
}
