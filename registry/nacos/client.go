package nacos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/clients"
	"github.com/nacos-group/nacos-sdk-go/v2/clients/config_client"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"

	"github.com/tianshu-go/tianshu/registry"
)

// clientKey identifies what makes two SDK clients interchangeable.
type clientKey struct {
	servers            string
	namespace          string
	username, password string
	dir                string
	timeout            time.Duration
	sdkLevel           string
	config             bool // a config client rather than a naming client
}

// The SDK keeps process-wide state (its logger, re-initialised by every new client; a map of
// every RPC client ever made) and CloseClient does not stop all it started (its file
// logger's rotator and its UDP push receiver; sdkLogger and stopPushReceiver see to those).
// So Tianshu makes one SDK client per server address and settings, shares it between every
// Registry and Source that use them, and closes it once, when the last user is closed. This
// table is the package's only mutable global, and it mirrors the SDK's own: it is empty
// once every Registry and Source is closed.
var pool = struct {
	sync.Mutex
	naming map[clientKey]*namingClient
	config map[clientKey]*configClient
}{naming: map[clientKey]*namingClient{}, config: map[clientKey]*configClient{}}

// parseServers checks host:port addresses and returns the SDK's server list.
func parseServers(servers []string) ([]constant.ServerConfig, string, error) {
	if len(servers) == 0 {
		return nil, "", fmt.Errorf("%w: no server address; want host:port such as 127.0.0.1:8848", ErrInvalidConfig)
	}
	out := make([]constant.ServerConfig, 0, len(servers))
	for _, s := range servers {
		host, p, err := net.SplitHostPort(s)
		if err != nil {
			return nil, "", fmt.Errorf("%w: server %q: want host:port such as 127.0.0.1:8848: %w", ErrInvalidConfig, s, err)
		}
		port, err := strconv.Atoi(p)
		// The gRPC port is the HTTP port + 1000, so the HTTP port must leave room for it.
		if err != nil || host == "" || port < 1 || port+1000 > 65535 {
			return nil, "", fmt.Errorf("%w: server %q: want a host and a port from 1 to 64535 (gRPC listens on port+1000)", ErrInvalidConfig, s)
		}
		out = append(out, constant.ServerConfig{
			IpAddr:      host,
			Port:        uint64(port),
			GrpcPort:    uint64(port + 1000),
			ContextPath: "/nacos",
			Scheme:      "http",
		})
	}
	return out, strings.Join(servers, ","), nil
}

// sdkParam builds the SDK's settings. Every field whose zero value misleads the SDK is set:
// directories (it would write next to the binary), timeouts, the cache behaviour that hides
// lists equal to a stale disk cache or empty ones, and the local snapshot that would answer
// for an unreachable server.
func sdkParam(o *options, servers []constant.ServerConfig) vo.NacosClientParam {
	cc := constant.ClientConfig{
		NamespaceId:          o.namespace,
		TimeoutMs:            uint64(o.timeout / time.Millisecond),
		BeatInterval:         5000,
		CacheDir:             filepath.Join(o.dir, "cache"),
		LogDir:               filepath.Join(o.dir, "log"),
		NotLoadCacheAtStart:  true,
		UpdateCacheWhenEmpty: true,
		DisableUseSnapShot:   true,
		UpdateThreadNum:      1,
		Username:             o.username,
		Password:             o.password,
		AppName:              o.appName,
		// The constructor's file logger must write nothing (see sdkLogger): "error" drops
		// all but errors, and a negative size makes lumberjack refuse even those before it
		// starts its rotator. sdkLogger applies o.sdkLevel once the client is made.
		LogLevel:         "error",
		LogRollingConfig: &constant.ClientLogRollingConfig{MaxSize: -1},
	}
	return vo.NacosClientParam{ClientConfig: &cc, ServerConfigs: servers}
}

// checkLogin tries the credentials against each server's login API, so that wrong ones give a
// clear error at once instead of "unknown user!" on every later request. An unreachable server
// is not an error here: the SDK connects when it comes up.
func checkLogin(ctx context.Context, o *options, servers []constant.ServerConfig) error {
	if o.username == "" {
		return nil
	}
	hc := &http.Client{Timeout: o.timeout}
	for _, s := range servers {
		form := url.Values{"username": {o.username}, "password": {o.password}}
		u := fmt.Sprintf("http://%s/nacos/v1/auth/users/login", net.JoinHostPort(s.IpAddr, strconv.FormatUint(s.Port, 10)))
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := hc.Do(req)
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized {
			return fmt.Errorf("%w: server %s:%d refused the login of user %q (wrong username or password?): %s",
				ErrUnauthorized, s.IpAddr, s.Port, o.username, strings.TrimSpace(string(body)))
		}
	}
	return nil
}

// classify wraps an SDK error with the registry's sentinel that tells a caller what to do.
func classify(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "unknown user") || strings.Contains(msg, "403") || strings.Contains(msg, "NO_NAMESPACE_PERMISSION"):
		return fmt.Errorf("%w: %w", ErrUnauthorized, err)
	default:
		return fmt.Errorf("%w: %w", registry.ErrUnavailable, err)
	}
}

// configClient is a shared SDK config client.
type configClient struct {
	key  clientKey
	refs int
	cli  config_client.IConfigClient

	mu        sync.Mutex
	listeners map[string]*listener // by group + "\x00" + dataId
}

// acquireConfig returns the shared config client for o, creating it if needed.
func acquireConfig(ctx context.Context, o *options, servers []string) (*configClient, error) {
	sc, joined, err := parseServers(servers)
	if err != nil {
		return nil, err
	}
	key := clientKey{joined, o.namespace, o.username, o.password, o.dir, o.timeout, o.sdkLevel, true}
	pool.Lock()
	defer pool.Unlock()
	if c, ok := pool.config[key]; ok {
		c.refs++
		return c, nil
	}
	if err := checkLogin(ctx, o, sc); err != nil {
		return nil, err
	}
	cli, err := clients.NewConfigClient(sdkParam(o, sc))
	installSDKLogger(newSDKLogger(o.log, o.sdkLevel))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	c := &configClient{key: key, refs: 1, cli: cli, listeners: map[string]*listener{}}
	pool.config[key] = c
	return c, nil
}

func (c *configClient) release() {
	pool.Lock()
	defer pool.Unlock()
	c.refs--
	if c.refs > 0 {
		return
	}
	delete(pool.config, c.key)
	c.cli.CloseClient()
}

// acquireNaming returns the shared naming client for o, creating it if needed.
func acquireNaming(ctx context.Context, o *options, servers []string) (*namingClient, error) {
	sc, joined, err := parseServers(servers)
	if err != nil {
		return nil, err
	}
	key := clientKey{joined, o.namespace, o.username, o.password, o.dir, o.timeout, o.sdkLevel, false}
	pool.Lock()
	defer pool.Unlock()
	if n, ok := pool.naming[key]; ok {
		n.refs++
		return n, nil
	}
	if err := checkLogin(ctx, o, sc); err != nil {
		return nil, err
	}
	before := pushListeners()
	cli, err := clients.NewNamingClient(sdkParam(o, sc))
	installSDKLogger(newSDKLogger(o.log, o.sdkLevel))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	n := newNamingClient(key, cli, o)
	for port := range pushListeners() {
		if !before[port] {
			n.pushPorts = append(n.pushPorts, port)
		}
	}
	pool.naming[key] = n
	return n, nil
}

func (n *namingClient) release() {
	pool.Lock()
	defer pool.Unlock()
	n.refs--
	if n.refs > 0 {
		return
	}
	delete(pool.naming, n.key)
	n.shutdown()
}

// errRefused is returned when the server answers a request with a failure and no message.
var errRefused = errors.New("nacos: server refused the request")
