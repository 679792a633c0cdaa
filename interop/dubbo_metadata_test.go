package interop_test

import (
	"context"
	"encoding/json"
	"errors"
	"path"
	"strconv"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/dubbo/metadataservice"
	"github.com/tianshu-go/tianshu/internal/testenv"
)

// javaProviderApp is the application name the Java peer's provider announces.
const javaProviderApp = "tianshu-interop-java-provider"

// The application-level record a Java Dubbo provider writes to /services/<app>/<ip:port>:
// the parts of Curator's JSON this test reads (docs/design/dubbo-app-level.md §1.1).
type curatorInstance struct {
	Address string `json:"address"`
	Port    int    `json:"port"`
	Payload struct {
		Metadata map[string]string `json:"metadata"`
	} `json:"payload"`
}

// A Java provider in Dubbo's default register mode announces its revision in ZooKeeper and
// serves MetadataServiceV2 on its Triple port; Fetch gets its metadata by that revision.
func TestFetchJavaProviderMetadata(t *testing.T) {
	needJavaPeer(t)
	zkSrv := zkServer.Get(t)
	port := testenv.FreePort(t)
	// The peer registers at interface level only unless told otherwise; "all" is Dubbo's
	// default and adds the application-level records.
	t.Setenv("JAVA_TOOL_OPTIONS", "-Dpeer.register-mode=all")
	java := startJava(t, "java-provider", "provider", "zookeeper://"+zkSrv.Addr, strconv.Itoa(port), "interop:1.0.0")
	waitForLine(t, java, "READY", javaStartTimeout)

	node := path.Join("/services", javaProviderApp, "127.0.0.1:"+strconv.Itoa(port))
	inst := readInstance(t, zkSrv.Addr, node)
	md := inst.Payload.Metadata
	rev := md["dubbo.metadata.revision"]
	// No storage type is "local" too: the consumer asks the instance, not a metadata report.
	if st := md["dubbo.metadata.storage-type"]; md["meta-v"] != metadataservice.ServiceVersion || (st != "" && st != "local") {
		t.Fatalf("%s announces meta-v %q, storage-type %q; want %s, local or none",
			node, md["meta-v"], md["dubbo.metadata.storage-type"], metadataservice.ServiceVersion)
	}
	// Where a Dubbo consumer calls MetadataServiceV2: the instance's host and the port of
	// url-params.
	var params struct{ Port, Protocol string }
	if err := json.Unmarshal([]byte(md["dubbo.metadata-service.url-params"]), &params); err != nil {
		t.Fatalf("%s: dubbo.metadata-service.url-params: %v", node, err)
	}
	if params.Protocol != "tri" {
		t.Fatalf("%s: MetadataServiceV2 over %q, want tri", node, params.Protocol)
	}
	t.Logf("%s: revision %s, MetadataServiceV2 at %s:%s", node, rev, inst.Address, params.Port)

	conn, err := grpc.NewClient(inst.Address+":"+params.Port, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	info, err := metadataservice.Fetch(ctx, conn, javaProviderApp, rev)
	if err != nil {
		t.Fatalf("Fetch(%s, %s): %v", javaProviderApp, rev, err)
	}
	found := false
	for key, s := range info.GetServices() {
		t.Logf("service %s: %s group %q version %q protocol %s port %d", key, s.GetName(), s.GetGroup(),
			s.GetVersion(), s.GetProtocol(), s.GetPort())
		if s.GetName() == greeterService && s.GetProtocol() == "tri" && int(s.GetPort()) == port &&
			s.GetGroup() == "interop" && s.GetVersion() == "1.0.0" {
			found = true
		}
	}
	if !found {
		t.Errorf("the metadata of revision %s lists no %s over tri on port %d in group interop, version 1.0.0: %v",
			rev, greeterService, port, info)
	}

	// The revision Go computes from the metadata Java serves is the one Java announced: a
	// consumer that recomputes it differently drops the metadata it cached.
	var services []dubbo.ServiceInfo
	for _, s := range info.GetServices() {
		services = append(services, dubbo.ServiceInfo{Name: s.GetName(), Group: s.GetGroup(), Version: s.GetVersion(),
			Protocol: s.GetProtocol(), Port: int(s.GetPort()), Path: s.GetPath(), Params: s.GetParams()})
	}
	if got := dubbo.NewMetadataInfo(info.GetApp(), services...).Revision(); got != rev {
		t.Errorf("Go computes revision %s from the metadata Java serves; Java announced %s", got, rev)
	}

	// Java answers a revision it does not announce with Unknown "Internal Server Error",
	// which Fetch reports as ErrFetch.
	if _, err := metadataservice.Fetch(ctx, conn, javaProviderApp, "deadbeef"); !errors.Is(err, metadataservice.ErrFetch) {
		t.Errorf("Fetch of an unknown revision: err %v, want ErrFetch", err)
	}
}

// readInstance waits for the node a Java provider writes and returns its content once it
// announces a revision.
func readInstance(t *testing.T, addr, node string) curatorInstance {
	t.Helper()
	c, events, err := zk.Connect([]string{addr}, 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		c.Close()
		for range events {
		}
	}()
	deadline := time.Now().Add(javaStartTimeout)
	var last string
	for {
		data, _, err := c.Get(node)
		if err == nil {
			var inst curatorInstance
			if jerr := json.Unmarshal(data, &inst); jerr != nil {
				t.Fatalf("%s: %v\n%s", node, jerr, data)
			}
			if r := inst.Payload.Metadata["dubbo.metadata.revision"]; r != "" && r != "0" {
				return inst
			}
			last = string(data)
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s announces no revision within %v: %s", node, javaStartTimeout, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
