package main

import (
	// Registry backends -registry knows: one import each.
	_ "github.com/tianshu-go/tianshu/registry/etcd"
	_ "github.com/tianshu-go/tianshu/registry/eureka"
	_ "github.com/tianshu-go/tianshu/registry/file"
	_ "github.com/tianshu-go/tianshu/registry/nacos"
	_ "github.com/tianshu-go/tianshu/registry/zookeeper"
)
