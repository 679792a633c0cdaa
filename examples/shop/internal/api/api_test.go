package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/examples/shop/shoppb"
	"github.com/tianshu-go/tianshu/rest"
	"github.com/tianshu-go/tianshu/rpc/httperr"
)

// failingOrders answers every call with err.
type failingOrders struct{ err error }

func (f failingOrders) PlaceOrder(context.Context, *shoppb.PlaceOrderRequest, ...grpc.CallOption) (*shoppb.Order, error) {
	return nil, f.err
}

func (f failingOrders) ListOrders(context.Context, *shoppb.ListOrdersRequest, ...grpc.CallOption) (*shoppb.ListOrdersReply, error) {
	return nil, f.err
}

// testAPI is the API on its config's defaults calling orders, and the rest.Server
// handler in front of its routes, as Main makes it (never listening: ServeHTTP only).
type testAPI struct {
	*api
	srv *rest.Server
}

func newTestAPI(t *testing.T, orders shoppb.OrdersClient) testAPI {
	t.Helper()
	c, err := config.New(context.Background(), nil, config.WithoutWatch())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	cfg, err := config.Bind[Config](c, "api")
	if err != nil {
		t.Fatal(err)
	}
	g := newAPI(cfg, orders, "shop-api-test", "v1")
	srv, err := rest.NewServer("127.0.0.1:0", g.routes(), append(ServerOptions(), rest.WithoutTelemetry(),
		rest.WithLogger(slog.New(slog.DiscardHandler)))...)
	if err != nil {
		t.Fatal(err)
	}
	return testAPI{g, srv}
}

// serve answers req as the API's server does.
func (g testAPI) serve(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	g.srv.ServeHTTP(rec, req)
	return rec
}

// errorBody checks that an answer is the project's JSON error body with the given code.
func errorBody(t *testing.T, rec *httptest.ResponseRecorder, wantHTTP int, wantCode string) httperr.Body {
	t.Helper()
	var raw map[string]json.RawMessage
	if rec.Code != wantHTTP || rec.Header().Get("Content-Type") != "application/json" ||
		json.Unmarshal(rec.Body.Bytes(), &raw) != nil {
		t.Fatalf("answer %d %q %s, want %d with a JSON body", rec.Code, rec.Header().Get("Content-Type"), rec.Body, wantHTTP)
	}
	if len(raw) != 3 || raw["details"] == nil {
		t.Errorf("body %s, want exactly code, message and details", rec.Body)
	}
	var b httperr.Body
	_ = json.Unmarshal(rec.Body.Bytes(), &b)
	if b.Code != wantCode || b.Message == "" {
		t.Errorf("body %s, want code %s and a message", rec.Body, wantCode)
	}
	return b
}

func TestOrdersAnswersKeepTheirGRPCCodeAndTheStandardHTTPStatus(t *testing.T) {
	tests := []struct {
		name string
		code codes.Code
		http int
	}{
		{"a bad quantity is the client's mistake", codes.InvalidArgument, http.StatusBadRequest},
		{"an unknown item is not found", codes.NotFound, http.StatusNotFound},
		{"too little stock is a failed precondition", codes.FailedPrecondition, http.StatusBadRequest},
		{"an unavailable payment is a 503", codes.Unavailable, http.StatusServiceUnavailable},
		{"a timeout is a gateway timeout", codes.DeadlineExceeded, http.StatusGatewayTimeout},
		{"an internal error is a 500", codes.Internal, http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newTestAPI(t, failingOrders{status.Error(tt.code, "from orders")})
			for _, req := range []*http.Request{
				httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(`{"item": "tea", "quantity": 1}`)),
				httptest.NewRequest(http.MethodGet, "/orders", nil),
			} {
				rec := g.serve(req)
				if b := errorBody(t, rec, tt.http, httperr.CodeName(tt.code)); b.Message != "from orders" {
					t.Errorf("%s %s: message %q, want orders' own", req.Method, req.URL, b.Message)
				}
			}
		})
	}
}

func TestMalformedOrdersAreRejectedWithTheExpectedShape(t *testing.T) {
	for _, body := range []string{`{"item": "tea", "quantity": "two"}`, `{"sku": "tea"}`, `not json`} {
		g := newTestAPI(t, failingOrders{status.Error(codes.Internal, "not called")})
		rec := g.serve(httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(body)))
		if b := errorBody(t, rec, http.StatusBadRequest, "INVALID_ARGUMENT"); !strings.Contains(b.Message, `want {"item": "tea", "quantity": 1}`) {
			t.Errorf("POST %s: message %q, want it to name the expected shape", body, b.Message)
		}
		if g.status.Rejected != 1 || g.status.Failed != 0 {
			t.Errorf("POST %s counted rejected=%d failed=%d, want 1 and 0", body, g.status.Rejected, g.status.Failed)
		}
	}
}

func TestEveryErrorAnswerIsTheJSONErrorBody(t *testing.T) {
	g := newTestAPI(t, failingOrders{status.Error(codes.Internal, "not called")})
	tests := []struct {
		name, method, path string
		http               int
		code               string
	}{
		{"a bad limit is 400", http.MethodGet, "/orders?limit=0", http.StatusBadRequest, "INVALID_ARGUMENT"},
		{"an unknown path is 404", http.MethodGet, "/nope", http.StatusNotFound, "NOT_FOUND"},
		{"a wrong method is 405", http.MethodDelete, "/orders", http.StatusMethodNotAllowed, "UNIMPLEMENTED"},
		{"a wrong method on /status is 405", http.MethodPost, "/status", http.StatusMethodNotAllowed, "UNIMPLEMENTED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := g.serve(httptest.NewRequest(tt.method, tt.path, nil))
			errorBody(t, rec, tt.http, tt.code)
			if tt.http == http.StatusMethodNotAllowed && rec.Header().Get("Allow") == "" {
				t.Error("405 without an Allow header")
			}
		})
	}
}

// panickingOrders panics on every call, as a bug in the API's call path would.
type panickingOrders struct{}

func (panickingOrders) PlaceOrder(context.Context, *shoppb.PlaceOrderRequest, ...grpc.CallOption) (*shoppb.Order, error) {
	panic("a bug")
}

func (panickingOrders) ListOrders(context.Context, *shoppb.ListOrdersRequest, ...grpc.CallOption) (*shoppb.ListOrdersReply, error) {
	panic("a bug")
}

func TestTheServerAnswersOversizedBodiesAndPanicsWithTheJSONErrorBody(t *testing.T) {
	g := newTestAPI(t, panickingOrders{})
	big := `{"item": "` + strings.Repeat("t", MaxBodyBytes) + `", "quantity": 1}`

	t.Run("a body over MaxBodyBytes is 413", func(t *testing.T) {
		errorBody(t, g.serve(httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(big))),
			http.StatusRequestEntityTooLarge, "RESOURCE_EXHAUSTED")
	})
	t.Run("a chunked body that grows past it is 413 as well", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, "/orders", io.MultiReader(strings.NewReader(big)))
		req.ContentLength = -1
		errorBody(t, g.serve(req), http.StatusRequestEntityTooLarge, "RESOURCE_EXHAUSTED")
	})
	t.Run("a panic in a handler is 500", func(t *testing.T) {
		for _, req := range []*http.Request{
			httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(`{"item": "tea", "quantity": 1}`)),
			httptest.NewRequest(http.MethodGet, "/orders", nil),
		} {
			errorBody(t, g.serve(req), http.StatusInternalServerError, "INTERNAL")
		}
	})
}

// paidOrders places every order, paid, as if served by orders-1, inventory-1 and payment-1.
type paidOrders struct{ failingOrders }

func (paidOrders) PlaceOrder(_ context.Context, req *shoppb.PlaceOrderRequest, _ ...grpc.CallOption) (*shoppb.Order, error) {
	return &shoppb.Order{Id: "o-1", Item: req.Item, Quantity: req.Quantity, Status: shoppb.OrderStatus_ORDER_STATUS_PAID,
		OrdersInstance: "orders-1", InventoryInstance: "inventory-1", PaymentInstance: "payment-1"}, nil
}

func TestAnOrderNamesTheAPIInstanceAndTheFrontDoorItCameThrough(t *testing.T) {
	g := newTestAPI(t, paidOrders{})
	req := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(`{"item": "tea", "quantity": 1}`))
	req.Header.Set(GatewayHeader, "gateway-2")
	rec := g.serve(req)
	if rec.Code != http.StatusCreated || rec.Header().Get(ServedByHeader) != "shop-api-test" {
		t.Fatalf("answer %d with %s %q, want 201 naming shop-api-test", rec.Code, ServedByHeader, rec.Header().Get(ServedByHeader))
	}
	var o Order
	if err := json.Unmarshal(rec.Body.Bytes(), &o); err != nil {
		t.Fatal(err)
	}
	if o.ServedBy.API != "shop-api-test" || o.ServedBy.Gateway != "gateway-2" {
		t.Errorf("served_by %+v, want api shop-api-test and gateway gateway-2", o.ServedBy)
	}
	if g.status.ServedBy["gateway-2"] != 1 || g.status.ServedBy["orders-1"] != 1 {
		t.Errorf("status counts %v, want one order through gateway-2 and orders-1", g.status.ServedBy)
	}
	// An error answer names the instance too.
	if rec := g.serve(httptest.NewRequest(http.MethodGet, "/orders?limit=0", nil)); rec.Header().Get(ServedByHeader) != "shop-api-test" {
		t.Errorf("a 400 without %s", ServedByHeader)
	}
}

func TestAConfigWithABadServiceNameOrTimeoutIsRejected(t *testing.T) {
	for _, c := range []Config{
		{Timeout: 0, Service: "shop-api"},
		{Timeout: time.Second, Service: "shop api/x"},
	} {
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("Validate(%+v) = %v, want ErrConfig", c, err)
		}
	}
	ok := Config{Timeout: time.Second, Service: "shop-api-canary"}
	if err := ok.Validate(); err != nil {
		t.Errorf("Validate(%+v) = %v", ok, err)
	}
}
