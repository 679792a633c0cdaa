// Package dubbo reads and writes the Dubbo URLs under which Dubbo providers announce
// themselves (protocol://host:port/<interface>?application=...&methods=...&side=provider...),
// and converts them to and from registry instances. registry/zookeeper uses it for Dubbo's
// interface-level ZooKeeper layout, /dubbo/<interface>/providers/<URL-encoded URL>.
//
//	u, err := dubbo.ParseNodeName(name) // a child of /dubbo/<interface>/providers
//	in, err := u.Instance("org.example.Greeter")
//
//	u, err := dubbo.FromInstance(in, dubbo.Publish{Application: "greeter"})
//	name := u.NodeName()
//
// A URL written by FromInstance reads back as the same instance: the tianshu.id,
// tianshu.endpoints and tianshu.defaults parameters carry what Dubbo URLs have no place for,
// and Dubbo ignores parameters it does not know.
package dubbo
