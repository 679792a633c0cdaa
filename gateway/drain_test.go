package gateway_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/tianshu-go/tianshu/gateway"
)

// streamsDoc routes /ws to a WebSocket echo and streamMethod to a gRPC stream echo; with
// withStreams false those two routes are gone. With shared, routes that stay use the same
// upstreams, so that they are not retired with the routes: the removal alone must close the
// connections.
func streamsDoc(wsURL string, grpcPort int, withStreams, shared bool) string {
	d := "gateway:\n  routes:\n    - {name: other, match: {path: {prefix: /other}}, target: {urls: [\"http://127.0.0.1:1\"]}}\n"
	if shared {
		d += fmt.Sprintf("    - {name: ws-keep, match: {path: {prefix: /keep}}, target: {urls: [%q]}}\n", wsURL)
		d += fmt.Sprintf("    - {name: grpc-keep, match: {path: {prefix: /tianshu.test.Echo}}, target: {urls: [\"http://127.0.0.1:%d\"], protocol: grpc}}\n", grpcPort)
	}
	if withStreams {
		d += fmt.Sprintf("    - {name: ws, match: {path: {prefix: /ws}}, target: {urls: [%q]}}\n", wsURL)
		d += fmt.Sprintf("    - {name: grpc, match: {path: {prefix: /tianshu.test.Stream}}, target: {urls: [\"http://127.0.0.1:%d\"], protocol: grpc}}\n", grpcPort)
	}
	return d
}

// TestRemovedRouteClosesStreamsAfterDrain removes the routes of an open WebSocket
// connection and an open gRPC stream: both keep working until the drain time
// (WithDrain), and are closed then, whether or not another route still uses their
// upstream. Routes that stay keep theirs.
func TestRemovedRouteClosesStreamsAfterDrain(t *testing.T) {
	const drain = time.Second
	wsURL := startWSEcho(t)
	grpcPort := startGRPCStream(t)
	for _, shared := range []bool{true, false} {
		t.Run(fmt.Sprintf("upstream still used %v", shared), func(t *testing.T) {
			apply := func(g *gateway.Gateway, doc string) {
				t.Helper()
				c, err := gateway.Parse([]byte(doc))
				if err != nil {
					t.Fatal(err)
				}
				if err := g.Apply(c); err != nil {
					t.Fatal(err)
				}
			}
			g, base := newGateway(t, streamsDoc(wsURL, grpcPort, true, shared), gateway.WithDrain(drain))
			ws, err := wsDial(base, "/ws")
			if err != nil {
				t.Fatal(err)
			}
			defer ws.close()
			st, err := openStream(grpcConn(t, base))
			if err != nil {
				t.Fatal(err)
			}
			defer st.cancel()
			if err := ws.echo([]byte("before"), 10*time.Second); err != nil {
				t.Fatal(err)
			}
			if err := st.echo([]byte("before")); err != nil {
				t.Fatal(err)
			}

			removed := time.Now()
			apply(g, streamsDoc(wsURL, grpcPort, false, shared))
			// Within the drain time both still carry messages.
			if err := ws.echo([]byte("draining"), drain/2); err != nil {
				t.Fatalf("the WebSocket connection failed before the drain time: %v", err)
			}
			if err := st.echo([]byte("draining")); err != nil {
				t.Fatalf("the gRPC stream failed before the drain time: %v", err)
			}
			if d := time.Since(removed); d >= drain {
				// The messages above may then have passed after the drain's end; what follows
				// (closed, and not before the drain) holds either way.
				t.Logf("the two messages took %v, longer than the drain of %v", d, drain)
			}

			// After it, both are closed: a generous bound, the drain plus 10 s.
			streamDone := make(chan error, 1)
			go func() {
				var err error
				for err == nil {
					err = st.echo([]byte("after"))
				}
				streamDone <- err
			}()
			if err := ws.waitClosed(drain + 10*time.Second); err != nil {
				t.Errorf("route removed %v ago with a drain of %v: %v", time.Since(removed).Round(time.Millisecond), drain, err)
			} else if d := time.Since(removed); d < drain {
				t.Errorf("the WebSocket connection closed %v after its route was removed, before the drain of %v", d, drain)
			}
			select {
			case err := <-streamDone:
				if d := time.Since(removed); d < drain {
					t.Errorf("the gRPC stream ended %v after its route was removed, before the drain of %v: %v", d, drain, err)
				}
				// The status a client can act on, naming the route.
				if s := st.endStatus(); s.Code() != codes.Unavailable || !strings.Contains(s.Message(), "route grpc was removed") {
					t.Errorf("the gRPC stream ended with %v, want Unavailable naming the route", s)
				}
			case <-time.After(drain + 10*time.Second):
				st.cancel()
				t.Errorf("the gRPC stream is still open %v after its route was removed with a drain of %v", time.Since(removed).Round(time.Millisecond), drain)
				<-streamDone
			}
		})
	}
}
