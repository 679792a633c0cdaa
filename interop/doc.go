// Package interop holds Tianshu's interoperability tests against real peers of other
// frameworks. It has no API: its tests start the peers as processes and assert what they
// answer. The Dubbo 3 tests (dubbo_test.go) run a Java Dubbo Triple consumer against a
// Tianshu provider and a Tianshu consumer against a Java Dubbo Triple provider, through a
// real ZooKeeper and a real Nacos (rnacos). The Java peer lives in dubbo-java and is built
// by scripts/install/dubbo-java.sh; both sides are generated from interoppb/greeter.proto.
//
// Run them with
//
//	bash scripts/install/dubbo-java.sh && go test ./interop/...
//
// README.md says which Dubbo set-ups are supported and what is out of scope.
package interop
