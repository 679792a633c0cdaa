package testenv

import (
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Nacos is a Nacos 2 compatible server (rnacos) started for one test on loopback. Clients
// reach it on Addr (HTTP) and on the gRPC port Port+1000, the offset nacos-sdk-go assumes.
type Nacos struct {
	*Process
	// Addr is the HTTP address, 127.0.0.1:<Port>.
	Addr string
	// Host and Port are Addr's parts; the gRPC port is Port+1000.
	Host string
	Port int
	// DataDir holds the server's persistent data (configs, namespaces, users), kept across
	// Restart. Ephemeral instances are not persisted: clients must register them again.
	DataDir string
	// Username and Password are set when the server was started WithNacosAuth.
	Username, Password string
}

// NacosOption configures StartNacos.
type NacosOption func(*Nacos)

// WithNacosAuth turns on authentication for the SDK APIs (RNACOS_ENABLE_OPEN_API_AUTH) with
// an administrator user of that name and password.
func WithNacosAuth(username, password string) NacosOption {
	return func(n *Nacos) { n.Username, n.Password = username, password }
}

// NacosBinary returns rnacos/bin/rnacos in ToolsDir if scripts/install/nacos.sh built it, else
// "".
func NacosBinary() string {
	if p := filepath.Join(ToolPath("rnacos"), "bin", "rnacos"); isExecutable(p) {
		return p
	}
	return ""
}

// StartNacos starts rnacos with its data in a temporary directory and waits until it serves
// requests; it is stopped when the test ends. Without the binary it calls Missing.
func StartNacos(t testing.TB, opts ...NacosOption) *Nacos {
	t.Helper()
	n, dir, env, bin := prepareNacos(t, opts)
	n.Process = StartProcess(t, "rnacos", dir, env, bin)
	n.waitReady(t)
	return n
}

// NewNacos prepares an rnacos server as StartNacos does, on ports it reserves now, but does
// not start it: clients pointed at Addr find nothing until Start. The server is stopped when
// the test ends.
func NewNacos(t testing.TB, opts ...NacosOption) *Nacos {
	t.Helper()
	n, dir, env, bin := prepareNacos(t, opts)
	n.Process = &Process{Name: "rnacos", args: []string{bin}, env: env, dir: dir}
	t.Cleanup(func() {
		n.mu.Lock()
		started := n.cmd != nil
		n.mu.Unlock()
		if started {
			n.Process.Stop()
			if t.Failed() {
				t.Logf("output of rnacos:\n%s", n.Output())
			}
		}
	})
	return n
}

// Start starts a server made by NewNacos, or one stopped with Kill or Stop again on the same
// ports and data, and waits until it serves requests.
func (n *Nacos) Start(t testing.TB) {
	t.Helper()
	n.Process.start(t)
	n.waitReady(t)
}

func prepareNacos(t testing.TB, opts []NacosOption) (n *Nacos, dir string, env []string, bin string) {
	t.Helper()
	bin = NacosBinary()
	if bin == "" {
		Missing(t, "Nacos (rnacos)")
	}
	n = &Nacos{Host: "127.0.0.1"}
	for _, o := range opts {
		o(n)
	}
	dir = t.TempDir()
	n.DataDir = filepath.Join(dir, "data")
	n.Port = nacosPorts(t)
	n.Addr = net.JoinHostPort(n.Host, strconv.Itoa(n.Port))
	env = []string{
		"RNACOS_SDK_HOST=" + n.Host,
		"RNACOS_CONSOLE_HOST=" + n.Host,
		"RNACOS_HTTP_PORT=" + strconv.Itoa(n.Port),
		"RNACOS_GRPC_PORT=" + strconv.Itoa(n.Port+1000),
		"RNACOS_HTTP_CONSOLE_PORT=0", // no web console: one port less to collide
		"RNACOS_RAFT_NODE_ADDR=" + net.JoinHostPort(n.Host, strconv.Itoa(n.Port+1000)),
		"RNACOS_DATA_DIR=" + n.DataDir,
		"RNACOS_HTTP_WORKERS=2",
		"RNACOS_ENABLE_METRICS=false",
		// On by default, it pins the first metadata ever registered at an ip:port (persisted
		// across restarts) and silently ignores every later update from a client.
		"RNACOS_NAMING_INSTANCE_METADATA_PERSISTENCE_ENABLE=false",
		"RUST_LOG=warn",
	}
	if n.Username != "" {
		env = append(env,
			"RNACOS_ENABLE_OPEN_API_AUTH=true",
			"RNACOS_INIT_ADMIN_USERNAME="+n.Username,
			"RNACOS_INIT_ADMIN_PASSWORD="+n.Password,
		)
	}
	// The working directory is the temporary one: rnacos reads a .env file from it.
	return n, dir, env, bin
}

// nacosPorts picks an HTTP port whose gRPC port (+1000) is free too.
func nacosPorts(t testing.TB) int {
	t.Helper()
	for range 50 {
		p := FreePort(t)
		if p+1000 > 65535 {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+1000)))
		if err != nil {
			continue
		}
		_ = l.Close()
		return p
	}
	t.Fatal("no free pair of ports P and P+1000 on 127.0.0.1 for Nacos")
	return 0
}

// waitReady waits until both ports accept connections and the HTTP API answers a config
// query (raft must have elected its single node before writes succeed).
func (n *Nacos) waitReady(t testing.TB) {
	t.Helper()
	WaitTCP(t, n.Addr, 60*time.Second)
	WaitTCP(t, net.JoinHostPort(n.Host, strconv.Itoa(n.Port+1000)), 60*time.Second)
	q := url.Values{"dataId": {"testenv-readiness"}, "group": {"testenv"}}
	probe := "http://" + n.Addr + "/nacos/v1/cs/configs?" + q.Encode()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		if n.Username != "" {
			// The administrator is created a moment after the ports open: wait for it.
			form := url.Values{"username": {n.Username}, "password": {n.Password}}
			resp, err := client.PostForm("http://"+n.Addr+"/nacos/v1/auth/users/login", form)
			if err == nil {
				_ = resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return
				}
				last = "login: " + resp.Status
			} else {
				last = err.Error()
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		resp, err := client.Get(probe)
		if err == nil {
			_ = resp.Body.Close()
			// 404: no such config, the API works; 403: it works but wants a login.
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusForbidden {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("rnacos at %s not ready within 60s: %s", n.Addr, last)
}

// Restart stops the server (SIGKILL when hard, else SIGTERM) and starts it again on the same
// ports and data, waiting until it serves requests.
func (n *Nacos) Restart(t testing.TB, hard bool) {
	t.Helper()
	n.Process.Restart(t, hard)
	n.waitReady(t)
}

// URL returns a nacos:// registry URL for the server with the given namespace and query.
func (n *Nacos) URL(namespace string, query url.Values) string {
	u := url.URL{Scheme: "nacos", Host: n.Addr, Path: "/" + namespace, RawQuery: query.Encode()}
	return u.String()
}

// AwaitNacosSDKEvents waits until every nacos-sdk-go client in the process has handed its
// connection events to its listeners. Call it after creating a client and before its first
// Subscribe. nacos-sdk-go v2.3.2 (and v2.3.5) hands a new client's first "connected" event to
// a goroutine that re-subscribes whatever has been subscribed by then; if the first Subscribe
// is already under way, both store and sort the same cached instance list at once
// (service_info_holder.go:161 sorts the old list in place while :97 encodes it), which the
// race detector reports. Normally the window is a few microseconds after the client is made;
// on two busy cores under -race it has lasted a whole Subscribe call. The event goroutine is
// idle when it is parked in its select and not inside notifyConnectionEvent: its channel is
// then empty, and the first event was sent before the client's constructor returned.
func AwaitNacosSDKEvents(t testing.TB) {
	t.Helper()
	const loop = "nacos-sdk-go/v2/common/remote/rpc.(*RpcClient).Start.func1("
	deadline := time.Now().Add(10 * time.Second)
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n == len(buf) {
			buf = make([]byte, 2*len(buf))
			continue
		}
		busy := 0
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			if strings.Contains(g, loop) && (!strings.Contains(g, " [select") || strings.Contains(g, "notifyConnectionEvent")) {
				busy++
			}
		}
		if busy == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d nacos-sdk-go event goroutines still busy after 10s", busy)
		}
		time.Sleep(time.Millisecond)
	}
}
