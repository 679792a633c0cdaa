package etcd_test

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/etcd"
	"github.com/tianshu-go/tianshu/registry/registrytest"
)

// enableAuth creates a root user with password rootpw, a user "nobody" with no role, and
// turns authentication on.
func enableAuth(t testing.TB, srv *testenv.Etcd) {
	t.Helper()
	admin := rawClient(t, srv.Endpoint)
	ctx := ctxFor(t)
	steps := []struct {
		what string
		do   func() error
	}{
		{"add root", func() error { _, err := admin.UserAdd(ctx, "root", "rootpw"); return err }},
		{"grant root", func() error { _, err := admin.UserGrantRole(ctx, "root", "root"); return err }},
		{"add nobody", func() error { _, err := admin.UserAdd(ctx, "nobody", "nobodypw"); return err }},
		{"enable auth", func() error { _, err := admin.AuthEnable(ctx); return err }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.what, err)
		}
	}
}

func TestAuth(t *testing.T) {
	srv := testenv.StartEtcd(t)
	enableAuth(t, srv)
	tests := []struct {
		name    string
		opts    []etcd.Option
		wantErr error
	}{
		{"RootWithItsPasswordRegistersAndWatches", []etcd.Option{etcd.WithAuth("root", "rootpw")}, nil},
		{"WrongPasswordIsRefusedWithErrAuth", []etcd.Option{etcd.WithAuth("root", "wrong")}, etcd.ErrAuth},
		{"NoCredentialsAreRefusedWithErrAuth", nil, etcd.ErrAuth},
		{"UserWithoutPermissionIsRefusedWithErrAuth", []etcd.Option{etcd.WithAuth("nobody", "nobodypw")}, etcd.ErrAuth},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			log, _ := newLog(t)
			r, err := etcd.New(ctxFor(t), []string{srv.Endpoint}, append(fast(log), tc.opts...)...)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("New = %v, want an error wrapping %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			t.Cleanup(func() { _ = r.Close() })
			svc := registrytest.ServiceName(t)
			w, err := r.Watch(ctxFor(t), svc)
			if err != nil {
				t.Fatalf("Watch: %v", err)
			}
			f := registrytest.NewFollow(t, w)
			if err := r.Register(ctxFor(t), registrytest.NewInstance(svc, "a", 7001)); err != nil {
				t.Fatalf("Register: %v", err)
			}
			f.Until(10*time.Second, "a", registrytest.HasIDs("a"))
		})
	}
}

func TestTLS(t *testing.T) {
	srv := testenv.StartEtcd(t, testenv.WithEtcdTLS())
	missing := filepath.Join(t.TempDir(), "missing.pem")
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	plain := strings.Replace(srv.Endpoint, "https://", "", 1)
	tests := []struct {
		name     string
		endpoint string
		opts     []etcd.Option
		wantErr  error
		wantText string
	}{
		{"TrustedCAConnects", srv.Endpoint, []etcd.Option{etcd.WithTLSFiles(srv.TLS.CAFile, "", "")}, nil, ""},
		{"ServerCertificateFromAnUnknownCAIsAnUnavailableErrorNamingTLS", srv.Endpoint,
			[]etcd.Option{etcd.WithTLSFiles("", "", "")}, registry.ErrUnavailable, "TLS"},
		{"PlainClientAgainstATLSServerIsAnUnavailableErrorSayingSo", plain, nil, registry.ErrUnavailable, "speaks TLS"},
		{"MissingCAFileIsAConfigErrorNamingTheFile", srv.Endpoint,
			[]etcd.Option{etcd.WithTLSFiles(missing, "", "")}, etcd.ErrInvalidConfig, missing},
		{"CAFileWithoutPEMIsAConfigError", srv.Endpoint,
			[]etcd.Option{etcd.WithTLSFiles(notPEM, "", "")}, etcd.ErrInvalidConfig, "no PEM"},
		{"CertificateWithoutKeyIsAConfigError", srv.Endpoint,
			[]etcd.Option{etcd.WithTLSFiles(srv.TLS.CAFile, srv.TLS.CertFile, "")}, etcd.ErrInvalidConfig, "together"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			log, _ := newLog(t)
			opts := append(fast(log), etcd.WithDialTimeout(2*time.Second))
			r, err := etcd.New(ctxFor(t), []string{tc.endpoint}, append(opts, tc.opts...)...)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				defer r.Close()
				if err := r.Register(ctxFor(t), registrytest.NewInstance(registrytest.ServiceName(t), "a", 7001)); err != nil {
					t.Fatalf("Register over TLS: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || !strings.Contains(errString(err), tc.wantText) {
				t.Fatalf("New = %v, want an error wrapping %v that mentions %q", err, tc.wantErr, tc.wantText)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestNewRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name      string
		endpoints []string
		opts      []etcd.Option
	}{
		{"NoEndpoint", nil, nil},
		{"AnEmptyEndpoint", []string{"127.0.0.1:1", ""}, nil},
		{"APortOutOfRange", []string{"127.0.0.1:99999"}, nil},
		{"AnEmptyHost", []string{"http://:2379"}, nil},
		{"ATTLUnderOneSecond", []string{"127.0.0.1:1"}, []etcd.Option{etcd.WithTTL(500 * time.Millisecond)}},
		{"AZeroDialTimeout", []string{"127.0.0.1:1"}, []etcd.Option{etcd.WithDialTimeout(0)}},
		{"AUserWithoutPassword", []string{"127.0.0.1:1"}, []etcd.Option{etcd.WithAuth("root", "")}},
		{"ABackoffThatShrinks", []string{"127.0.0.1:1"}, []etcd.Option{etcd.WithRetry(time.Second, time.Millisecond)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := etcd.New(context.Background(), tc.endpoints, tc.opts...)
			if !errors.Is(err, etcd.ErrInvalidConfig) {
				t.Fatalf("New = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestUnreachableServerAtNewIsWaitedOutInTheBackground(t *testing.T) {
	port := testenv.FreePort(t)
	log, _ := newLog(t)
	start := time.Now()
	// A dial timeout longer than the wait for a first answer: New must not wait for it.
	r, err := etcd.New(context.Background(), []string{"127.0.0.1:" + strconv.Itoa(port)}, append(fast(log), etcd.WithDialTimeout(10*time.Second))...)
	if err != nil {
		t.Fatalf("New with no server = %v; want a Registry that connects in the background", err)
	}
	defer r.Close()
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("New with no server took %v; want about 1 s", d)
	}
	if r.Healthy() {
		t.Error("Healthy() = true with no server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := r.GetService(ctx, "orders"); !errors.Is(err, registry.ErrUnavailable) {
		t.Fatalf("GetService with no server = %v, want ErrUnavailable", err)
	}
}

func TestMalformedEntriesAreSkippedAndLoggedOnce(t *testing.T) {
	srv := testenv.StartEtcd(t)
	r, log := openWithLog(t, srv)
	admin := rawClient(t, srv.Endpoint)
	svc := registrytest.ServiceName(t)
	if err := r.Register(ctxFor(t), registrytest.NewInstance(svc, "good", 7001)); err != nil {
		t.Fatalf("Register: %v", err)
	}
	bad := map[string]string{
		"not-json":   "{oops",
		"no-port":    `{"id":"no-port","service":"` + svc + `","endpoints":["grpc://127.0.0.1"]}`,
		"wrong-home": `{"id":"elsewhere","service":"` + svc + `","endpoints":["grpc://127.0.0.1:1"]}`,
	}
	for id, v := range bad {
		if _, err := admin.Put(ctxFor(t), r.Key(svc, id), v); err != nil {
			t.Fatal(err)
		}
	}
	w, err := r.Watch(ctxFor(t), svc)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	f := registrytest.NewFollow(t, w)
	f.Until(10*time.Second, "only the good entry", registrytest.HasIDs("good"))
	for range 3 {
		list, err := r.GetService(ctxFor(t), svc)
		if err != nil || !registrytest.HasIDs("good")(list) {
			t.Fatalf("GetService = %s, %v; want [good]", registrytest.IDs(list), err)
		}
	}
	for id := range bad {
		if n := strings.Count(log.String(), "key="+r.Key(svc, id)+" "); n != 1 {
			t.Errorf("malformed entry %s logged %d times, want once; log:\n%s", id, n, log.String())
		}
	}
	// A later good value under a bad key is picked up by the watch.
	if _, err := admin.Put(ctxFor(t), r.Key(svc, "no-port"), `{"id":"no-port","service":"`+svc+`","endpoints":["grpc://127.0.0.1:9"]}`); err != nil {
		t.Fatal(err)
	}
	f.Until(10*time.Second, "the repaired entry", registrytest.HasIDs("good", "no-port"))
}

func TestHealthFollowsTheServer(t *testing.T) {
	srv := testenv.StartEtcd(t)
	r := open(t, srv)
	w, err := r.Watch(ctxFor(t), registrytest.ServiceName(t)) // keeps a stream open
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if !r.Healthy() {
		t.Fatal("Healthy() = false right after New")
	}
	srv.Kill()
	eventually(t, "Healthy() to turn false with the server killed", func() bool { return !r.Healthy() })
	srv.Restart(t, true)
	eventually(t, "Healthy() to turn true after the restart", r.Healthy)
	_ = r.Close()
	if r.Healthy() {
		t.Error("Healthy() = true after Close")
	}
}

func TestOpenURL(t *testing.T) {
	srv := testenv.StartEtcd(t)
	enableAuth(t, srv)
	u := "etcd://" + srv.Addr + ",127.0.0.1:1/custom/prefix?username=root&password=rootpw&dial_timeout=3s&ttl=4s"
	reg, err := registry.Open(ctxFor(t), u)
	if err != nil {
		t.Fatalf("registry.Open(%q): %v", u, err)
	}
	defer reg.Close()
	r := reg.(*etcd.Registry)
	if r.Prefix() != "/custom/prefix" {
		t.Errorf("Prefix() = %q, want /custom/prefix", r.Prefix())
	}
	svc := registrytest.ServiceName(t)
	if err := r.Register(ctxFor(t), registrytest.NewInstance(svc, "a", 7001)); err != nil {
		t.Fatalf("Register: %v", err)
	}
	admin := rawClient(t, srv.Endpoint, func(c *clientv3.Config) { c.Username, c.Password = "root", "rootpw" })
	resp, err := admin.TimeToLive(ctxFor(t), leaseOf(t, admin, "/custom/prefix/"+svc+"/a"))
	if err != nil || resp.GrantedTTL != 4 {
		t.Errorf("lease TTL = %v, %v; want 4 s from the URL", resp, err)
	}
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		name      string
		url       string
		endpoints string
		wantErr   string
	}{
		{"SeveralHostsAreSeveralEndpoints", "etcd://10.0.0.1:2379,10.0.0.2:2379/p", "10.0.0.1:2379 10.0.0.2:2379", ""},
		{"UserInfoGivesTheCredentials", "etcd://u:p@127.0.0.1:2379", "127.0.0.1:2379", ""},
		{"TLSFilesAreAccepted", "etcd://127.0.0.1:2379?tls=true&server_name=etcd.local", "127.0.0.1:2379", ""},
		{"AnUnknownParameterIsNamed", "etcd://127.0.0.1:2379?tll=3s", "", `unknown parameter "tll"`},
		{"ABadDurationIsNamed", "etcd://127.0.0.1:2379?ttl=ten", "", "parameter ttl"},
		{"ABadTLSFlagIsNamed", "etcd://127.0.0.1:2379?tls=maybe", "", "parameter tls"},
		{"NoHostIsAnError", "etcd:///prefix", "", "no host"},
		{"AnEmptyHostInTheListIsAnError", "etcd://127.0.0.1:2379,,127.0.0.2:2379/p", "", "empty entry"},
		{"ThePasswordIsRedactedInErrors", "etcd://u:secret@127.0.0.1:2379?bogus=1", "", "xxxxx"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := url.Parse(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			eps, _, err := etcd.ParseURL(u)
			if tc.wantErr != "" {
				if !errors.Is(err, etcd.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "secret") {
					t.Fatalf("ParseURL = %v, want ErrInvalidConfig mentioning %q without the password", err, tc.wantErr)
				}
				return
			}
			if err != nil || strings.Join(eps, " ") != tc.endpoints {
				t.Fatalf("ParseURL = %q, %v; want %q", eps, err, tc.endpoints)
			}
		})
	}
}

func TestCredentialsWithTheServerDownAtNewAreUsedOnceItIsUp(t *testing.T) {
	srv := testenv.StartEtcd(t)
	enableAuth(t, srv)
	srv.Stop()
	newWith := func(user, password string) *etcd.Registry {
		log, _ := newLog(t)
		start := time.Now()
		r, err := etcd.New(ctxFor(t), []string{srv.Endpoint}, append(fast(log), etcd.WithAuth(user, password))...)
		if err != nil {
			t.Fatalf("New as %s while etcd is down = %v; want a Registry that connects in the background", user, err)
		}
		t.Cleanup(func() { _ = r.Close() })
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("New as %s while etcd is down took %v; want about 1 s", user, d)
		}
		return r
	}
	good, bad := newWith("root", "rootpw"), newWith("root", "wrong")
	svc := registrytest.ServiceName(t)
	ctx, cancel := context.WithTimeout(ctxFor(t), time.Second)
	defer cancel()
	if err := good.Register(ctx, registrytest.NewInstance(svc, "a", 7001)); !errors.Is(err, registry.ErrUnavailable) {
		t.Fatalf("Register while etcd is down = %v, want ErrUnavailable", err)
	}

	srv.Start(t)
	admin := rawClient(t, srv.Endpoint, func(c *clientv3.Config) { c.Username, c.Password = "root", "rootpw" })
	eventually(t, "the instance registered while etcd was down", func() bool {
		resp, err := admin.Get(ctxFor(t), good.Key(svc, "a"))
		return err == nil && len(resp.Kvs) == 1
	})
	if err := bad.Register(ctxFor(t), registrytest.NewInstance(svc, "b", 7002)); !errors.Is(err, etcd.ErrAuth) {
		t.Fatalf("Register with a wrong password once etcd is up = %v, want ErrAuth", err)
	}
}
