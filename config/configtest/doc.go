// Package configtest is the conformance suite for config.Source
// implementations. Every source runs it: config/file against a temporary
// directory, the ZooKeeper, Nacos and etcd sources against their real
// servers.
//
//	func TestConformance(t *testing.T) {
//		configtest.Run(t, configtest.Harness{
//			Open: func(t *testing.T) (config.Source, configtest.Store) {
//				root := newIsolatedRoot(t) // fresh path, cleaned up by t.Cleanup
//				return mysource.New(client, root), myStore{client, root}
//			},
//			Names: []string{"a.yaml", "b.yaml"},
//		})
//	}
package configtest
