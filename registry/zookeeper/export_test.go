package zookeeper

import "github.com/go-zookeeper/zk"

// WithDialer lets tests see the connection handshake (to learn the session password).
func WithDialer(d zk.Dialer) Option { return func(o *options) { o.dialer = d } }
