// Package dubbo holds Tianshu's model of Apache Dubbo: the provider URLs of Dubbo's
// interface-level registry layout, application-level service discovery (the instance a
// provider application announces, the metadata and revision of the services it serves, and
// the mapping from an interface to the applications that serve it), and later the governance
// rules Dubbo Admin writes. It is pure: it encodes, decodes and computes, and does no I/O.
// The backends (registry/zookeeper, registry/nacos) and rpc keep their I/O and call into it,
// so every backend speaks one Dubbo dialect.
//
// Interface level: a child of /dubbo/<interface>/providers in ZooKeeper is a URL-encoded
// Dubbo URL.
//
//	u, err := dubbo.ParseNodeName(name)
//	in, err := u.Instance("org.example.Greeter")
//
//	u, err := dubbo.FromInstance(in, dubbo.Publish{Application: "greeter"})
//	name := u.NodeName()
//
// A URL written by FromInstance reads back as the same instance: the tianshu.id,
// tianshu.endpoints and tianshu.defaults parameters carry what Dubbo URLs have no place for,
// and Dubbo ignores parameters it does not know.
//
// Application level (Dubbo 3): a provider application announces one instance per address
// (AppInstance, in ZooKeeper the Curator JSON of /services/<app>/<host:port>) whose metadata
// names the revision of its MetadataInfo; consumers fetch the MetadataInfo of a revision
// from the provider and find the application through the mapping of the interface
// (/dubbo/mapping/<interface>, a comma-separated list of application names).
//
// A provider's backend keeps an Announcer: it is told each provider URL registered and
// unregistered, and gives the AppInstance to write at each address, whose revision changes
// with the services there, and the MetadataInfo of a revision, to serve. RegisterMode is
// Dubbo's register-mode (all, interface, instance); ErrMappingConflict ends a backend's
// compare-and-set loop on the mapping after MappingRetries lost attempts, as Dubbo's does.
//
// A Tianshu consumer turns what it found at application level into the instances of an
// interface with ResolveInstances (the same shape as interface-level URLs give, so that
// rpc.WithDubbo filters both alike), and lists both levels together with MergeInstances;
// DiscoveryMode chooses the levels a backend reads. MetadataServiceAddr says where an
// instance serves MetadataServiceV2, and why Tianshu cannot fetch the metadata of an
// instance that offers only the hessian2 MetadataService (ErrUnsupportedMetadata).
package dubbo
