// Package nacosconn holds what registry/nacos and config/nacos share: the settings of an SDK
// client, the checks and login made before one is created, the process-wide pool of shared
// SDK clients, the SDK logger, and the sentinel errors. It lives apart from both so that
// the registry package can keep deprecated aliases of the config package's names without an
// import cycle.
package nacosconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
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

// Errors of the Nacos packages; registry/nacos and config/nacos export them under their own
// names, so errors.Is matches across both.
var (
	ErrInvalidConfig = errors.New("nacos: invalid configuration")
	ErrUnauthorized  = errors.New("nacos: unauthorized")
	// ErrRefused is returned when the server answers a request with a failure and no message.
	ErrRefused = errors.New("nacos: server refused the request")
)

// Settings are what makes two SDK clients interchangeable, and what the SDK needs.
type Settings struct {
	Namespace          string
	Username, Password string
	Dir                string // absolute
	AppName            string
	Timeout            time.Duration
	SDKLevel           string
	Log                *slog.Logger
}

// DefaultDir is where the SDK's files go unless told otherwise.
func DefaultDir() string {
	base, err := os.UserCacheDir()
	if err != nil || base == "" {
		base = os.TempDir()
	}
	return filepath.Join(base, "tianshu", "nacos")
}

// Classify wraps an SDK error with the sentinel that tells a caller what to do.
func Classify(err error) error {
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

// ParseServers checks host:port addresses and returns the SDK's server list, and the
// addresses joined, for pool keys.
func ParseServers(servers []string) ([]constant.ServerConfig, string, error) {
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

// SDKParam builds the SDK's settings. Every field whose zero value misleads the SDK is set:
// directories (it would write next to the binary), timeouts, the cache behaviour that hides
// lists equal to a stale disk cache or empty ones, and the local snapshot that would answer
// for an unreachable server.
func SDKParam(s *Settings, servers []constant.ServerConfig) vo.NacosClientParam {
	cc := constant.ClientConfig{
		NamespaceId:          s.Namespace,
		TimeoutMs:            uint64(s.Timeout / time.Millisecond),
		BeatInterval:         5000,
		CacheDir:             filepath.Join(s.Dir, "cache"),
		LogDir:               filepath.Join(s.Dir, "log"),
		NotLoadCacheAtStart:  true,
		UpdateCacheWhenEmpty: true,
		DisableUseSnapShot:   true,
		UpdateThreadNum:      1,
		Username:             s.Username,
		Password:             s.Password,
		AppName:              s.AppName,
		// The constructor's file logger must write nothing (see sdkLogger): "error" drops
		// all but errors, and a negative size makes lumberjack refuse even those before it
		// starts its rotator. InstallSDKLogger applies s.SDKLevel once the client is made.
		LogLevel:         "error",
		LogRollingConfig: &constant.ClientLogRollingConfig{MaxSize: -1},
	}
	return vo.NacosClientParam{ClientConfig: &cc, ServerConfigs: servers}
}

// CheckLogin tries the credentials against each server's login API, so that wrong ones give a
// clear error at once instead of "unknown user!" on every later request. An unreachable server
// is not an error here: the SDK connects when it comes up.
func CheckLogin(ctx context.Context, s *Settings, servers []constant.ServerConfig) error {
	if s.Username == "" {
		return nil
	}
	hc := &http.Client{Timeout: s.Timeout}
	for _, sv := range servers {
		form := url.Values{"username": {s.Username}, "password": {s.Password}}
		u := fmt.Sprintf("http://%s/nacos/v1/auth/users/login", net.JoinHostPort(sv.IpAddr, strconv.FormatUint(sv.Port, 10)))
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
				ErrUnauthorized, sv.IpAddr, sv.Port, s.Username, strings.TrimSpace(string(body)))
		}
	}
	return nil
}

// Key identifies what makes two SDK clients interchangeable.
type Key struct {
	Servers            string
	Namespace          string
	Username, Password string
	Dir                string
	Timeout            time.Duration
	SDKLevel           string
}

// KeyOf is the pool key of a client of s over servers (joined by ParseServers).
func KeyOf(s *Settings, joined string) Key {
	return Key{joined, s.Namespace, s.Username, s.Password, s.Dir, s.Timeout, s.SDKLevel}
}

// The SDK keeps process-wide state (its logger, re-initialised by every new client; a map of
// every RPC client ever made) and CloseClient does not stop all it started (its file
// logger's rotator and its UDP push receiver). So Tianshu makes one SDK client per server
// address and settings, shares it between every Registry and Source that use them, and
// closes it once, when the last user is closed. This table is the only mutable global of the
// Nacos packages, and it mirrors the SDK's own: it is empty once every Registry and Source is
// closed. Its lock also serialises the making of SDK clients, naming clients included
// (registry/nacos keeps those in its own map under Lock).
var pool = struct {
	sync.Mutex
	config map[Key]*ConfigClient
}{config: map[Key]*ConfigClient{}}

// Lock takes the pool's lock, which registry/nacos holds while it makes or drops a naming
// client.
func Lock() { pool.Lock() }

// Unlock releases the lock Lock took.
func Unlock() { pool.Unlock() }

// ConfigClients is the number of shared config clients, for tests.
func ConfigClients() int {
	pool.Lock()
	defer pool.Unlock()
	return len(pool.config)
}

// Notifier is woken when a listened dataId changes.
type Notifier interface{ Notify() }

// ConfigClient is a shared SDK config client.
type ConfigClient struct {
	key  Key
	refs int
	Cli  config_client.IConfigClient

	mu        sync.Mutex
	listeners map[string]map[Notifier]struct{} // by group + "\x00" + dataId
}

// AcquireConfig returns the shared config client for s and servers, creating it if needed.
// Release it when done.
func AcquireConfig(ctx context.Context, s *Settings, servers []string) (*ConfigClient, error) {
	sc, joined, err := ParseServers(servers)
	if err != nil {
		return nil, err
	}
	key := KeyOf(s, joined)
	pool.Lock()
	defer pool.Unlock()
	if c, ok := pool.config[key]; ok {
		c.refs++
		return c, nil
	}
	if err := CheckLogin(ctx, s, sc); err != nil {
		return nil, err
	}
	cli, err := clients.NewConfigClient(SDKParam(s, sc))
	InstallSDKLogger(s.Log, s.SDKLevel)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	c := &ConfigClient{key: key, refs: 1, Cli: cli, listeners: map[string]map[Notifier]struct{}{}}
	pool.config[key] = c
	return c, nil
}

// Release drops a reference; the last one closes the client.
func (c *ConfigClient) Release() {
	pool.Lock()
	defer pool.Unlock()
	c.refs--
	if c.refs > 0 {
		return
	}
	delete(pool.config, c.key)
	c.Cli.CloseClient()
}

func listenKey(group, dataID string) string { return group + "\x00" + dataID }

// Listen makes n hear changes of dataID in group. Every watcher of a dataId shares one SDK
// listener: a second ListenConfig on the same dataId and group would keep only the first
// callback.
func (c *ConfigClient) Listen(group, dataID string, n Notifier) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := listenKey(group, dataID)
	if l, ok := c.listeners[k]; ok {
		l[n] = struct{}{}
		return nil
	}
	l := map[Notifier]struct{}{n: {}}
	err := c.Cli.ListenConfig(vo.ConfigParam{DataId: dataID, Group: group, OnChange: func(_, _, _, _ string) {
		c.mu.Lock()
		defer c.mu.Unlock()
		for n := range l {
			n.Notify()
		}
	}})
	if err != nil {
		return Classify(err)
	}
	c.listeners[k] = l
	return nil
}

// Unlisten undoes Listen; the last watcher of a dataId cancels the SDK listener.
func (c *ConfigClient) Unlisten(group, dataID string, n Notifier) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := listenKey(group, dataID)
	l, ok := c.listeners[k]
	if !ok {
		return
	}
	delete(l, n)
	if len(l) == 0 {
		delete(c.listeners, k)
		_ = c.Cli.CancelListenConfig(vo.ConfigParam{DataId: dataID, Group: group})
	}
}
