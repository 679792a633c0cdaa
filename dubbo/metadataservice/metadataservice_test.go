package metadataservice_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"

	"github.com/tianshu-go/tianshu/dubbo/metadatapb"
	"github.com/tianshu-go/tianshu/dubbo/metadataservice"
	"github.com/tianshu-go/tianshu/rpc"
)

const app = "tianshu-demo"

func info(revision string) *metadatapb.MetadataInfoV2 {
	return &metadatapb.MetadataInfoV2{
		App:     app,
		Version: revision,
		Services: map[string]*metadatapb.ServiceInfoV2{
			"interop/tianshu.interop.v1.Greeter:1.0.0:tri": {
				Name: "tianshu.interop.v1.Greeter", Group: "interop", Version: "1.0.0", Protocol: "tri",
				Port: 20880, Path: "tianshu.interop.v1.Greeter",
				Params: map[string]string{"side": "provider", "methods": "Greet"},
			},
		},
	}
}

// serve runs a gRPC server with src registered over an in-memory listener and returns a
// connection to it.
func serve(t testing.TB, src metadataservice.Source) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	s := grpc.NewServer()
	metadataservice.Register(s, src)
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		s.Stop()
		<-done
	})
	return conn
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestFetchGetsWhatTheStoreHolds(t *testing.T) {
	var st metadataservice.Store
	for _, rev := range []string{"aaaa", "bbbb"} {
		if err := st.Put(info(rev)); err != nil {
			t.Fatal(err)
		}
	}
	conn := serve(t, &st)
	for _, rev := range []string{"aaaa", "bbbb"} {
		got, err := metadataservice.Fetch(ctxFor(t), conn, app, rev)
		if err != nil {
			t.Fatalf("Fetch(%s): %v", rev, err)
		}
		if !proto.Equal(got, info(rev)) {
			t.Errorf("Fetch(%s) = %v, want %v", rev, got, info(rev))
		}
	}

	st.Delete("aaaa")
	if _, err := metadataservice.Fetch(ctxFor(t), conn, app, "aaaa"); !errors.Is(err, metadataservice.ErrUnknownRevision) {
		t.Errorf("Fetch of a deleted revision: err %v, want ErrUnknownRevision", err)
	}
}

func TestFetchRejectsBadRevisionsAndAnswers(t *testing.T) {
	// A Source that answers every revision with the metadata of another one.
	wrong := sourceFunc(func(string) (*metadatapb.MetadataInfoV2, bool) { return info("other"), true })
	conn := serve(t, wrong)
	for _, tc := range []struct {
		app, rev string
		want     error
	}{
		{app, "", metadataservice.ErrInvalidRevision},
		{app, "0", metadataservice.ErrInvalidRevision},
		{app, "aaaa", metadataservice.ErrFetch},                       // the answer is of another revision
		{"someone-else", "other", metadataservice.ErrUnknownRevision}, // group header mismatch
	} {
		if _, err := metadataservice.Fetch(ctxFor(t), conn, tc.app, tc.rev); !errors.Is(err, tc.want) {
			t.Errorf("Fetch(%q, %q): err %v, want %v", tc.app, tc.rev, err, tc.want)
		}
	}
	if _, err := metadataservice.Fetch(ctxFor(t), conn, app, "other"); err != nil {
		t.Errorf("Fetch of the revision the source has: %v", err)
	}
}

// The server follows Dubbo's Triple routing headers when they are sent, and serves a plain
// gRPC client that sends none.
func TestServerHeaders(t *testing.T) {
	var st metadataservice.Store
	if err := st.Put(info("aaaa")); err != nil {
		t.Fatal(err)
	}
	c := metadatapb.NewMetadataServiceV2Client(serve(t, &st))
	for _, tc := range []struct {
		name   string
		kv     []string
		wantOK bool
	}{
		{"no headers", nil, true},
		{"Dubbo's headers", []string{rpc.TripleGroupHeader, app, rpc.TripleVersionHeader, "2.0.0"}, true},
		{"another application", []string{rpc.TripleGroupHeader, "x"}, false},
		{"another version", []string{rpc.TripleVersionHeader, "1.0.0"}, false},
	} {
		ctx := metadata.AppendToOutgoingContext(ctxFor(t), tc.kv...)
		_, err := c.GetMetadataInfo(ctx, &metadatapb.MetadataRequest{Revision: "aaaa"})
		if (err == nil) != tc.wantOK {
			t.Errorf("%s: err %v, want success %v", tc.name, err, tc.wantOK)
		}
	}
	if _, err := c.GetMetadataInfo(ctxFor(t), &metadatapb.MetadataRequest{}); err == nil {
		t.Error("a request without a revision was served")
	}
}

func TestStorePutNeedsAppAndRevision(t *testing.T) {
	var st metadataservice.Store
	for _, in := range []*metadatapb.MetadataInfoV2{nil, {App: app}, {Version: "aaaa"}} {
		if err := st.Put(in); !errors.Is(err, metadataservice.ErrInvalidRevision) {
			t.Errorf("Put(%v): err %v, want ErrInvalidRevision", in, err)
		}
	}
}

type sourceFunc func(string) (*metadatapb.MetadataInfoV2, bool)

func (f sourceFunc) Metadata(rev string) (*metadatapb.MetadataInfoV2, bool) { return f(rev) }

// BenchmarkFetch is one metadata fetch over an in-memory connection: what a consumer pays per
// new revision it meets, less the network.
func BenchmarkFetch(b *testing.B) {
	var st metadataservice.Store
	if err := st.Put(info("aaaa")); err != nil {
		b.Fatal(err)
	}
	conn := serve(b, &st)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := metadataservice.Fetch(ctx, conn, app, "aaaa"); err != nil {
			b.Fatal(err)
		}
	}
}
