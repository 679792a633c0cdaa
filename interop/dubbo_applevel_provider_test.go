package interop_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/internal/echotest"
	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/interop/interoppb"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/nacos"
	"github.com/tianshu-go/tianshu/registry/zookeeper"
	"github.com/tianshu-go/tianshu/rpc"
)

// These tests put Tianshu providers registered at application level (the default register
// mode, all) beside Dubbo 3.3.5's Java peer, with Java consumers: the mixed fleet.

// metadataCenter makes the Java peer use the registry as its metadata centre, as Dubbo does by
// default (the peer turns it off for the interface-level tests): the provider then writes
// the interface-application mapping and the consumer reads it.
const metadataCenter = "-Ddubbo.registry.use-as-metadata-center=true"

// javaFlags sets the JVM system properties of the Java peers the test starts next, through
// JAVA_TOOL_OPTIONS: startJava passes its arguments after -jar, to Main.
func javaFlags(t *testing.T, flags ...string) {
	t.Setenv("JAVA_TOOL_OPTIONS", strings.Join(flags, " "))
}

// providerBackend is a registry server the scenarios run on, ZooKeeper or Nacos.
type providerBackend struct {
	name string
	// start returns the registry URL the Java peer is given, and the kind and address by
	// which openAppLevel opens a Tianshu registry on the same server (strings, so that a
	// child process can be told them too).
	start func(t *testing.T) (javaURL, kind, addr string)
}

var providerBackends = []providerBackend{
	{name: "ZooKeeper", start: func(t *testing.T) (string, string, string) {
		zk := zkServer.Get(t)
		return "zookeeper://" + zk.Addr, "zookeeper", zk.Addr
	}},
	{name: "Nacos", start: func(t *testing.T) (string, string, string) {
		srv := testenv.StartNacos(t)
		return "nacos://" + srv.Addr, "nacos", srv.Addr
	}},
}

// openAppLevel opens the registry a Tianshu provider of app registers with, in its Dubbo mode
// and the default register mode (all). t is nil in a child process, which logs nothing.
func openAppLevel(ctx context.Context, kind, addr, app, dir string, t *testing.T) (registry.Registry, error) {
	switch kind {
	case "zookeeper":
		opts := []zookeeper.Option{zookeeper.WithLayout(zookeeper.LayoutDubbo),
			zookeeper.WithDubboPublish(dubbo.Publish{Application: app, Methods: []string{"Greet"}})}
		if t != nil {
			opts = append(opts, zookeeper.WithLogger(testLogger(t)))
		}
		return zookeeper.New(ctx, []string{addr}, opts...)
	case "nacos":
		opts := []nacos.Option{nacos.WithDubboNaming("1.0.0", "interop"), nacos.WithApplication(app), nacos.WithDir(dir)}
		if t != nil {
			opts = append(opts, nacos.WithLogger(testLogger(t)))
		}
		return nacos.New(ctx, []string{addr}, opts...)
	}
	return nil, fmt.Errorf("unknown registry %q", kind)
}

// appGreeterServer is a Tianshu Greeter provider of group interop, version 1.0.0, with
// Dubbo's warm-up off (warmup=0 in its URL and metadata, design §8). Each call takes delay.
func appGreeterServer(reg registry.Registrar, name string, delay time.Duration, opts ...rpc.ServerOption) *rpc.Server {
	srv := rpc.NewServer(append([]rpc.ServerOption{
		rpc.WithService(greeterService), rpc.WithInstanceID(name), rpc.WithRegistrar(reg),
		rpc.WithVersion("1.0.0"), rpc.WithMetadata(map[string]string{"group": "interop", "warmup": "0"}),
		rpc.WithDeregisterDelay(time.Second),
	}, opts...)...)
	interoppb.RegisterGreeterServer(srv, slowGreeter{greeter{name: name}, delay})
	return srv
}

// slowGreeter answers after a delay, so that a call is in flight most of the time.
type slowGreeter struct {
	greeter
	delay time.Duration
}

func (g slowGreeter) Greet(ctx context.Context, req *interoppb.GreetRequest) (*interoppb.GreetReply, error) {
	time.Sleep(g.delay)
	return g.greeter.Greet(ctx, req)
}

// Issue item 3a: a Java consumer that only discovers at application level
// (FORCE_APPLICATION) finds the Tianshu provider through the mapping, fetches its metadata
// from the provider's MetadataServiceV2 and calls it.
func TestJavaForceApplicationConsumerCallsTianshuProvider(t *testing.T) {
	for _, b := range providerBackends {
		t.Run("through "+b.name, func(t *testing.T) {
			javaURL, kind, addr := b.start(t)
			reg, err := openAppLevel(context.Background(), kind, addr, "tianshu-applevel-a", t.TempDir(), t)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = reg.Close() })
			echotest.Run(t, appGreeterServer(reg, "tianshu-applevel-a", 0, rpc.WithServerLogger(testLogger(t))))

			javaFlags(t, "-Dpeer.migration=FORCE_APPLICATION", metadataCenter)
			const calls = 4
			java := startJava(t, "java-consumer", "consumer", javaURL, "interop", "1.0.0", strconv.Itoa(calls))
			got := answers(waitForLine(t, java, "DONE", javaStartTimeout))
			if len(got) != calls {
				t.Fatalf("the Java consumer printed %d answers, want %d:\n%s", len(got), calls, java.Output())
			}
			for i, a := range got {
				want := answer{message: fmt.Sprintf("hello, java-%d", i), servedBy: "tianshu-applevel-a", group: "interop", version: "1.0.0"}
				if a != want {
					t.Errorf("answer %d = %+v, want %+v", i, a, want)
				}
			}
		})
	}
}

// Issue item 3b: a Java consumer in Dubbo's default migration step (APPLICATION_FIRST)
// spreads its calls over a Java provider in Dubbo's default register mode and a Tianshu
// provider, both with warm-up off: each gets half of 1,000 calls, within 15 points.
func TestJavaDefaultConsumerSpreadsOverJavaAndTianshuProviders(t *testing.T) {
	for _, b := range providerBackends {
		t.Run("through "+b.name, func(t *testing.T) {
			javaURL, kind, addr := b.start(t)
			reg, err := openAppLevel(context.Background(), kind, addr, "tianshu-applevel-b", t.TempDir(), t)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = reg.Close() })
			echotest.Run(t, appGreeterServer(reg, "tianshu-applevel-b", 0, rpc.WithServerLogger(testLogger(t))))

			javaFlags(t, "-Dpeer.register-mode=all", "-Dpeer.warmup=0", "-Dpeer.app=java-applevel-b", metadataCenter)
			port := testenv.FreePort(t)
			prov := startJava(t, "java-provider", "provider", javaURL, strconv.Itoa(port), "interop:1.0.0")
			waitForLine(t, prov, "READY", javaStartTimeout)

			javaFlags(t, "-Dpeer.migration=APPLICATION_FIRST", metadataCenter)
			const calls = 1000
			java := startJava(t, "java-consumer", "consumer", javaURL, "interop", "1.0.0", strconv.Itoa(calls))
			// The consumer may start before it sees both applications: the count starts
			// once both have answered.
			got := answers(waitForLine(t, java, "DONE", 3*javaStartTimeout))
			split := map[string]int{}
			for _, a := range got {
				split[a.servedBy]++
			}
			t.Logf("split of %d calls: %v", len(got), split)
			tianshu, javaN := split["tianshu-applevel-b"], split["java:interop:1.0.0"]
			if len(got) != calls || tianshu+javaN != calls {
				t.Fatalf("%d answers, %v; want %d from the two providers", len(got), split, calls)
			}
			for name, n := range map[string]int{"Tianshu": tianshu, "Java": javaN} {
				if n < calls*35/100 || n > calls*65/100 {
					t.Errorf("the %s provider served %d of %d calls; want half within 15 points", name, n, calls)
				}
			}
		})
	}
}

// Environment of the Tianshu provider child process (providerChild).
const (
	childRegistryEnv = "INTEROP_APPLEVEL_PROVIDER_REGISTRY" // kind:addr
	childNameEnv     = "INTEROP_APPLEVEL_PROVIDER_NAME"     // application/instance
	childDirEnv      = "INTEROP_APPLEVEL_PROVIDER_DIR"
	childDelayEnv    = "INTEROP_APPLEVEL_PROVIDER_DELAY" // of each call, a Go duration
)

// init turns the test binary into a Tianshu provider when a test re-executes it with
// childRegistryEnv set: the SIGKILL scenario needs a provider in a process of its own.
func init() {
	if spec := os.Getenv(childRegistryEnv); spec != "" {
		os.Exit(providerChild(spec, os.Getenv(childNameEnv), os.Getenv(childDirEnv)))
	}
}

// providerChild serves the Greeter registered at application level until SIGTERM, then
// shuts down gracefully (deregister, wait, drain); it prints "READY" once registered.
func providerChild(spec, appName, dir string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	kind, addr, _ := strings.Cut(spec, ":")
	app, name, _ := strings.Cut(appName, "/")
	reg, err := openAppLevel(ctx, kind, addr, app, dir, nil)
	if err != nil {
		fmt.Println("ERROR", err)
		return 1
	}
	defer reg.Close()
	delay, _ := time.ParseDuration(os.Getenv(childDelayEnv))
	srv := appGreeterServer(reg, name, delay)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("ERROR", err)
		return 1
	}
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown(context.Background())
	}()
	go func() {
		for srv.Instance() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		fmt.Println("READY")
	}()
	if err := srv.Serve(lis); err != nil {
		fmt.Println("ERROR", err)
		return 1
	}
	return 0
}

// childProvider is a Tianshu provider in a child process.
type childProvider struct {
	cmd    *exec.Cmd
	ready  chan struct{}
	exited chan struct{}
}

// startChildProvider starts a Tianshu provider of application app, instance name, in a
// child process, and waits until it is registered. Each call takes delay.
func startChildProvider(t *testing.T, kind, addr, app, name string, delay time.Duration) *childProvider {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childRegistryEnv+"="+kind+":"+addr, childNameEnv+"="+app+"/"+name,
		childDirEnv+"="+t.TempDir(), childDelayEnv+"="+delay.String())
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &childProvider{cmd: cmd, ready: make(chan struct{}), exited: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "READY" {
				close(c.ready)
			}
		}
		_ = cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.exited
	})
	select {
	case <-c.ready:
	case <-c.exited:
		t.Fatalf("provider %s exited before it was ready", name)
	case <-time.After(javaStartTimeout):
		t.Fatalf("provider %s not ready within %v", name, javaStartTimeout)
	}
	return c
}

func (c *childProvider) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	_ = c.cmd.Process.Signal(sig)
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("provider did not exit within 30 s of %v", sig)
	}
}

// startJavaProvider starts a Java provider of Greeter (interop:1.0.0) in Dubbo's default
// register mode with warm-up off, and returns it with its process, which the test kills;
// startJava does not give the process out.
func startJavaProvider(t *testing.T, javaURL string) (*javaProcess, *os.Process) {
	t.Helper()
	needJavaPeer(t)
	p := &javaProcess{Name: "java-provider", exited: make(chan struct{})}
	cmd := exec.Command("java", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx256m", "-XX:-UsePerfData",
		"-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-Dpeer.register-mode=all", "-Dpeer.warmup=0",
		"-Dpeer.app=java-applevel-c", metadataCenter,
		"-jar", dubboJar(), "provider", javaURL, strconv.Itoa(testenv.FreePort(t)), "interop:1.0.0")
	cmd.Dir = t.TempDir()
	cmd.Stdout, cmd.Stderr = p, p
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
	})
	waitForLine(t, p, "READY", javaStartTimeout)
	return p, cmd.Process
}

// consumerLog reads a looping Java consumer's output from a mark on.
type consumerLog struct{ p *javaProcess }

func (c consumerLog) mark() int { return len(c.p.Output()) }

// fails counts the FAIL lines printed since mark.
func (c consumerLog) fails(mark int) int {
	return strings.Count(c.p.Output()[mark:], "\nFAIL ")
}

// waitServedBy waits until a call printed since mark was served by servedBy.
func (c consumerLog) waitServedBy(t *testing.T, mark int, servedBy string) {
	t.Helper()
	deadline := time.Now().Add(javaStartTimeout)
	for !strings.Contains(c.p.Output()[mark:], "|"+servedBy+"|") {
		if time.Now().After(deadline) {
			t.Fatalf("no call served by %s within %v:\n%s", servedBy, javaStartTimeout, c.p.Output()[mark:])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// killWindow is how long the failures of a kill are counted: past the Tianshu provider's
// session timeout (zookeeper.DefaultSessionTimeout), after which its instance is gone; a
// Java provider's (Dubbo's 60 s) outlasts it, which only favours Java in the comparison.
const killWindow = 15 * time.Second

// Issue item 3c: under a Java consumer calling in a loop (default migration step, failures
// counted and not retried), a Tianshu provider stopped with SIGTERM costs no call; one killed
// with SIGKILL costs, over three kills, on average at most one call more than a Java provider
// killed the same way. A Tianshu provider of the same application keeps serving throughout,
// so that every failure is one the kill caused.
func TestProviderStopsUnderALoopingJavaConsumer(t *testing.T) {
	for _, b := range providerBackends {
		t.Run("through "+b.name, func(t *testing.T) {
			javaURL, kind, addr := b.start(t)
			const app = "tianshu-applevel-c"
			startChildProvider(t, kind, addr, app, "tianshu-base", 0)

			javaFlags(t, "-Dpeer.keep-going=true", "-Dpeer.interval-ms=10", metadataCenter)
			java := startJava(t, "java-consumer", "consumer", javaURL, "interop", "1.0.0", "1000000")
			log := consumerLog{java}
			log.waitServedBy(t, 0, "tianshu-base")

			// SIGTERM: deregister, wait, drain. Its calls take 20 ms, at least as long as the
			// consumer's pause between calls, so that a call is in flight when it stops
			// whenever the consumer still calls it: a stop that does not drain loses it.
			m := log.mark()
			term := startChildProvider(t, kind, addr, app, "tianshu-term", 20*time.Millisecond)
			log.waitServedBy(t, m, "tianshu-term")
			m = log.mark()
			term.signal(t, syscall.SIGTERM)
			time.Sleep(killWindow)
			if n := log.fails(m); n != 0 {
				t.Errorf("stopping a Tianshu provider with SIGTERM cost %d failed calls, want 0:\n%s", n, java.Output()[m:])
			}

			var tianshuFails, javaFails []int
			for i := range 3 {
				name := fmt.Sprintf("tianshu-kill-%d", i)
				m := log.mark()
				p := startChildProvider(t, kind, addr, app, name, 0)
				log.waitServedBy(t, m, name)
				m = log.mark()
				p.signal(t, syscall.SIGKILL)
				time.Sleep(killWindow)
				tianshuFails = append(tianshuFails, log.fails(m))
			}
			for range 3 {
				m := log.mark()
				jp, proc := startJavaProvider(t, javaURL)
				log.waitServedBy(t, m, "java:interop:1.0.0")
				m = log.mark()
				_ = proc.Kill()
				<-jp.exited
				time.Sleep(killWindow)
				javaFails = append(javaFails, log.fails(m))
			}
			sum := func(l []int) int {
				n := 0
				for _, v := range l {
					n += v
				}
				return n
			}
			t.Logf("failed calls per SIGKILL: Tianshu %v, Java %v (window %v, a call every 10 ms)", tianshuFails, javaFails, killWindow)
			if sum(tianshuFails) > sum(javaFails)+3 {
				t.Errorf("a killed Tianshu provider cost %v failed calls, a killed Java one %v: want on average at most one more",
					tianshuFails, javaFails)
			}
		})
	}
}

// revisionCheckJava asks a provider's MetadataServiceV2, as a Dubbo consumer does, for the
// metadata of a revision, and prints the revision Dubbo's own MetadataInfo computes for
// what it got. It runs as a single-file source program on the Java peer's classpath.
const revisionCheckJava = `import java.util.HashMap;

import org.apache.dubbo.config.ApplicationConfig;
import org.apache.dubbo.config.ReferenceConfig;
import org.apache.dubbo.config.bootstrap.DubboBootstrap;
import org.apache.dubbo.metadata.MetadataInfo;
import org.apache.dubbo.metadata.MetadataInfoV2;
import org.apache.dubbo.metadata.MetadataRequest;
import org.apache.dubbo.metadata.MetadataServiceV2;
import org.apache.dubbo.metadata.util.MetadataServiceVersionUtils;

// args: tri://HOST:PORT APPLICATION REVISION
public class RevisionCheck {
    public static void main(String[] args) {
        try {
            System.setProperty("user.home", System.getProperty("user.dir"));
            System.setProperty("dubbo.network.interface.ignored", ".*");
            ReferenceConfig<MetadataServiceV2> ref = new ReferenceConfig<>();
            ref.setInterface(MetadataServiceV2.class);
            ref.setUrl(args[0] + "/" + MetadataServiceV2.class.getName());
            ref.setGroup(args[1]);
            ref.setVersion("2.0.0");
            ref.setProtocol("tri");
            ref.setProxy("nativestub");
            ApplicationConfig app = new ApplicationConfig("tianshu-revision-check");
            app.setQosEnable(false);
            DubboBootstrap.getInstance().application(app).reference(ref).start();
            MetadataInfoV2 got = ref.get().getMetadataInfo(MetadataRequest.newBuilder().setRevision(args[2]).build());
            MetadataInfo v1 = MetadataServiceVersionUtils.toV1(got);
            MetadataInfo again = new MetadataInfo(v1.getApp(), null, new HashMap<>(v1.getServices()));
            System.out.println("REVISION " + again.calRevision());
        } catch (Throwable e) {
            System.out.println("ERROR " + e);
            e.printStackTrace(System.out);
        }
        System.out.flush();
        Runtime.getRuntime().halt(0);
    }
}
`

// announcedRevision returns the revision the application instance of app at port announces
// in the registry, waiting for it to appear.
func announcedRevision(t *testing.T, kind, addr, app string, port int) string {
	t.Helper()
	if kind == "zookeeper" {
		in := readInstance(t, addr, fmt.Sprintf("%s/%s/127.0.0.1:%d", zookeeper.ServicesRoot, app, port))
		return in.Payload.Metadata[dubbo.MetaRevision]
	}
	q := url.Values{"serviceName": {app}, "groupName": {nacos.DefaultGroup}}
	deadline := time.Now().Add(javaStartTimeout)
	for {
		var list struct {
			Hosts []struct {
				Port     int               `json:"port"`
				Metadata map[string]string `json:"metadata"`
			} `json:"hosts"`
		}
		resp, err := http.Get("http://" + addr + "/nacos/v1/ns/instance/list?" + q.Encode())
		if err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&list)
			resp.Body.Close()
		}
		for _, h := range list.Hosts {
			if h.Port == port && h.Metadata[dubbo.MetaRevision] != "" {
				return h.Metadata[dubbo.MetaRevision]
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no instance of %s at port %d announces a revision within %v", app, port, javaStartTimeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Issue item 1: the revision a Tianshu provider announces is the one Dubbo computes, with its
// own MetadataInfo, for the metadata the provider serves under it.
func TestJavaComputesTheRevisionTianshuAnnounces(t *testing.T) {
	needJavaPeer(t)
	for _, b := range providerBackends {
		t.Run("through "+b.name, func(t *testing.T) {
			_, kind, addr := b.start(t)
			const app = "tianshu-applevel-rev"
			reg, err := openAppLevel(context.Background(), kind, addr, app, t.TempDir(), t)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = reg.Close() })
			srv := appGreeterServer(reg, "tianshu-applevel-rev", 0, rpc.WithServerLogger(testLogger(t)))
			echotest.Run(t, srv)
			for srv.Instance() == nil {
				time.Sleep(10 * time.Millisecond)
			}
			port := srv.Instance().Endpoints[0].Port
			rev := announcedRevision(t, kind, addr, app, port)

			dir := t.TempDir()
			src := filepath.Join(dir, "RevisionCheck.java")
			if err := os.WriteFile(src, []byte(revisionCheckJava), 0o644); err != nil {
				t.Fatal(err)
			}
			lib := filepath.Join(filepath.Dir(dubboJar()), "lib", "*")
			ctx, cancel := context.WithTimeout(context.Background(), 2*javaStartTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, "java", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx256m",
				"-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
				"-cp", dubboJar()+string(os.PathListSeparator)+lib, src,
				fmt.Sprintf("tri://127.0.0.1:%d", port), app, rev)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "JAVA_TOOL_OPTIONS=")
			out, err := cmd.CombinedOutput()
			var got string
			for _, l := range strings.Split(string(out), "\n") {
				if r, ok := strings.CutPrefix(l, "REVISION "); ok {
					got = r
				}
			}
			if err != nil || got == "" {
				t.Fatalf("the Java check printed no revision (%v):\n%s", err, out)
			}
			if got != rev {
				t.Errorf("Dubbo computes revision %s for the metadata Tianshu serves under %s", got, rev)
			}
			t.Logf("revision %s, computed by Dubbo as %s", rev, got)
		})
	}
}
