package front

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/config/file"
	"github.com/tianshu-go/tianshu/examples/shop/shoppb"
	"github.com/tianshu-go/tianshu/gateway"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/memory"
)

// fakeOrders answers as orders does, without inventory and payment behind it: tea is the
// one item it knows, and every order names the instance.
type fakeOrders struct {
	shoppb.UnimplementedOrdersServer
	id string
}

func (f fakeOrders) PlaceOrder(_ context.Context, r *shoppb.PlaceOrderRequest) (*shoppb.Order, error) {
	if r.Item != "tea" {
		return nil, status.Errorf(codes.NotFound, "orders: calling inventory: inventory: no item %q", r.Item)
	}
	return &shoppb.Order{Id: f.id + "-1", Item: r.Item, Quantity: r.Quantity, AmountCents: 450 * int64(r.Quantity),
		Status: shoppb.OrderStatus_ORDER_STATUS_PAID, OrdersInstance: f.id}, nil
}

func (f fakeOrders) ListOrders(_ context.Context, r *shoppb.ListOrdersRequest) (*shoppb.ListOrdersReply, error) {
	if r.Limit < 0 {
		return nil, status.Errorf(codes.InvalidArgument, "orders: limit %d is negative", r.Limit)
	}
	out := &shoppb.ListOrdersReply{}
	for range r.Limit {
		out.Orders = append(out.Orders, &shoppb.Order{Id: f.id + "-1", Item: "tea", OrdersInstance: f.id})
	}
	return out, nil
}

// shippedFront is a gateway with the routes of the shipped gateway.yaml, over a registry
// that lists one orders instance: fakeOrders on a loopback gRPC server. Only the linked
// shoppb package tells the gateway what shop.v1.Orders is.
func shippedFront(t *testing.T) *httptest.Server {
	t.Helper()
	routes, err := gateway.Read(context.Background(), []config.Source{file.New("../../config/gateway.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	shoppb.RegisterOrdersServer(srv, fakeOrders{id: "orders-9"})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	reg := memory.New()
	t.Cleanup(func() { _ = reg.Close() })
	port := lis.Addr().(*net.TCPAddr).Port
	err = reg.Register(context.Background(), &registry.Instance{ID: "orders-9", Service: "orders",
		Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "127.0.0.1", Port: port}}})
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(gateway.WithDiscovery(reg), gateway.WithoutTelemetry(),
		gateway.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	if err := g.Apply(routes); err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(g)
	t.Cleanup(front.Close)
	t.Cleanup(front.Client().CloseIdleConnections)
	return front
}

// send makes one request of the front door and returns the status and the body, compacted
// (protojson varies its spacing on purpose).
func send(t *testing.T, front *httptest.Server, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, front.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if json.Compact(&out, b) != nil {
		return resp.StatusCode, string(b)
	}
	return resp.StatusCode, out.String()
}

// The shipped orders-rest route serves Orders' gRPC methods as REST under /rpc, by the
// http rules in shop.proto: the replies are the methods' messages in JSON, and a gRPC
// error is the project's JSON error body with the HTTP status of its code.
func TestTheShippedRESTRouteServesOrdersGRPCMethods(t *testing.T) {
	front := shippedFront(t)
	for _, c := range []struct {
		method, path, body string
		code               int
		want               string // the body, compacted
	}{
		{http.MethodPost, "/rpc/v1/orders", `{"item":"tea","quantity":2}`, http.StatusOK,
			`{"id":"orders-9-1","item":"tea","quantity":2,"amountCents":"900","status":"ORDER_STATUS_PAID","ordersInstance":"orders-9"}`},
		{http.MethodGet, "/rpc/v1/orders?limit=2", "", http.StatusOK,
			`{"orders":[{"id":"orders-9-1","item":"tea","ordersInstance":"orders-9"},{"id":"orders-9-1","item":"tea","ordersInstance":"orders-9"}]}`},
		{http.MethodPost, "/rpc/v1/orders", `{"item":"caviar","quantity":1}`, http.StatusNotFound,
			`{"code":"NOT_FOUND","message":"orders: calling inventory: inventory: no item \"caviar\"","details":[]}`},
		{http.MethodGet, "/rpc/v1/orders?limit=-1", "", http.StatusBadRequest,
			`{"code":"INVALID_ARGUMENT","message":"orders: limit -1 is negative","details":[]}`},
	} {
		code, body := send(t, front, c.method, c.path, c.body)
		if code != c.code || body != c.want {
			t.Errorf("%s %s %s:\n got %d %s\nwant %d %s", c.method, c.path, c.body, code, body, c.code, c.want)
		}
	}
}

// Paths and methods that no rule binds are answered by the transcoder, in the same body, and
// never reach the service: a body that is not JSON is 400.
func TestTheShippedRESTRouteRefusesWhatNoRuleBinds(t *testing.T) {
	front := shippedFront(t)
	for _, c := range []struct {
		method, path, body string
		code               int
		errCode            string
	}{
		{http.MethodGet, "/rpc/v1/payments", "", http.StatusNotFound, "NOT_FOUND"},
		{http.MethodDelete, "/rpc/v1/orders", "", http.StatusMethodNotAllowed, "UNIMPLEMENTED"},
		{http.MethodPost, "/rpc/v1/orders", `{"item":`, http.StatusBadRequest, "INVALID_ARGUMENT"},
	} {
		code, body := send(t, front, c.method, c.path, c.body)
		var e struct{ Code string }
		_ = json.Unmarshal([]byte(body), &e)
		if code != c.code || e.Code != c.errCode {
			t.Errorf("%s %s %s: %d %s, want %d with code %s", c.method, c.path, c.body, code, body, c.code, c.errCode)
		}
	}
}
