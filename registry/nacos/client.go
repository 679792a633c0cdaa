package nacos

import (
	"context"
	"fmt"

	"github.com/nacos-group/nacos-sdk-go/v2/clients"

	"github.com/tianshu-go/tianshu/internal/nacosconn"
)

// namingPool holds the shared naming clients, under nacosconn's lock: the SDK keeps
// process-wide state, so Tianshu makes one SDK client per server address and settings and
// closes it with its last user (see nacosconn, which keeps the config clients). It is empty
// once every Registry is closed.
type namingPool map[nacosconn.Key]*namingClient

var naming = namingPool{}

// settings are the options an SDK client is made with.
func (o *options) settings() *nacosconn.Settings {
	return &nacosconn.Settings{
		Namespace: o.namespace,
		Username:  o.username,
		Password:  o.password,
		Dir:       o.dir,
		AppName:   o.appName,
		Timeout:   o.timeout,
		SDKLevel:  o.sdkLevel,
		Log:       o.log,
	}
}

// classify wraps an SDK error with the registry's sentinel that tells a caller what to do.
func classify(err error) error { return nacosconn.Classify(err) }

// errRefused is returned when the server answers a request with a failure and no message.
var errRefused = nacosconn.ErrRefused

// acquireNaming returns the shared naming client for o, creating it if needed.
func acquireNaming(ctx context.Context, o *options, servers []string) (*namingClient, error) {
	sc, joined, err := nacosconn.ParseServers(servers)
	if err != nil {
		return nil, err
	}
	s := o.settings()
	key := nacosconn.KeyOf(s, joined)
	nacosconn.Lock()
	defer nacosconn.Unlock()
	if n, ok := naming[key]; ok {
		n.refs++
		return n, nil
	}
	if err := nacosconn.CheckLogin(ctx, s, sc); err != nil {
		return nil, err
	}
	before := pushListeners()
	cli, err := clients.NewNamingClient(nacosconn.SDKParam(s, sc))
	nacosconn.InstallSDKLogger(o.log, o.sdkLevel)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	n := newNamingClient(key, cli, o)
	for port := range pushListeners() {
		if !before[port] {
			n.pushPorts = append(n.pushPorts, port)
		}
	}
	naming[key] = n
	return n, nil
}

func (n *namingClient) release() {
	nacosconn.Lock()
	defer nacosconn.Unlock()
	n.refs--
	if n.refs > 0 {
		return
	}
	delete(naming, n.key)
	n.shutdown()
}
