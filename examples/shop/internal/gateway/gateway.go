// Package gateway is the shop's HTTP front door: a JSON API that places and lists orders by
// calling the orders service over Tianshu RPC, and a status document counting what it
// answered and which instances served. It serves through rest.Server, which announces it in
// the registry as service "gateway" with an http endpoint, so that callers reach every
// gateway instance as http://gateway/ through rest.Client, and which gives it telemetry,
// panic recovery, a body limit and the project's JSON error body.
package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tianshu-go/tianshu"
	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/examples/shop/internal/kit"
	"github.com/tianshu-go/tianshu/examples/shop/shoppb"
	"github.com/tianshu-go/tianshu/rest"
	"github.com/tianshu-go/tianshu/rpc/httperr"
)

// Service is the name the gateway registers under.
const Service = "gateway"

// Config is the gateway section of gateway.yaml.
type Config struct {
	// HTTP is the address of the JSON API.
	HTTP string `config:"http" default:"127.0.0.1:8080"`
	// Timeout bounds each call to orders.
	Timeout time.Duration `config:"timeout" default:"2s"`
}

// Validate rejects a timeout the gateway cannot use.
func (c *Config) Validate() error {
	if c.Timeout <= 0 {
		return fmt.Errorf("timeout %v must be positive", c.Timeout)
	}
	return nil
}

func (c *Config) String() string { return fmt.Sprintf("http=%s timeout=%v", c.HTTP, c.Timeout) }

// Order is an order as the API shows it.
type Order struct {
	ID          string `json:"id"`
	Item        string `json:"item"`
	Quantity    int32  `json:"quantity"`
	AmountCents int64  `json:"amount_cents"`
	// Status is "paid" or "payment_pending".
	Status   string   `json:"status"`
	ServedBy ServedBy `json:"served_by"`
}

// Order statuses.
const (
	StatusPaid           = "paid"
	StatusPaymentPending = "payment_pending"
)

// ServedBy names the instances that served an order.
type ServedBy struct {
	Orders    string `json:"orders"`
	Inventory string `json:"inventory"`
	Payment   string `json:"payment,omitempty"`
}

// Status is the document GET /status returns: counters since the gateway started.
type Status struct {
	Instance string `json:"instance"`
	// Placed counts orders placed (paid or pending); Pending those with payment pending.
	Placed  int64 `json:"placed"`
	Pending int64 `json:"pending"`
	// Failed counts order requests answered 5xx; Rejected those answered 4xx.
	Failed   int64 `json:"failed"`
	Rejected int64 `json:"rejected"`
	// ServedBy counts, per instance ID, the placed orders it served a part of.
	ServedBy  map[string]int64 `json:"served_by"`
	LastError string           `json:"last_error,omitempty"`
}

// PlaceRequest is the body of POST /orders.
type PlaceRequest struct {
	Item     string `json:"item"`
	Quantity int32  `json:"quantity"`
}

// MaxBodyBytes bounds the body of POST /orders: rest.Server answers a larger one 413 with the
// JSON error body.
const MaxBodyBytes = 64 << 10

// Main runs the gateway until SIGINT, SIGTERM or the end of ctx: a rest.Server, announced in
// the registry as service "gateway" with an http endpoint, as a component of a tianshu.App.
func Main(ctx context.Context, args []string) error {
	p, err := kit.Start(ctx, Service, args)
	if err != nil {
		return err
	}
	defer p.Close()
	cfg, err := config.Bind[Config](p.Config, "gateway")
	if err != nil {
		return err
	}
	kit.OnReload(p, cfg, (*Config).String)
	conn, err := p.Dial(ctx, "orders")
	if err != nil {
		return err
	}
	p.AddCloser(func(context.Context) error { return conn.Close() })
	g := newGateway(cfg, shoppb.NewOrdersClient(conn), p.ID)

	srv, err := p.NewHTTPServer(cfg.Load().HTTP, g.routes(), ServerOptions()...)
	if err != nil {
		return err
	}
	err = p.Run(ctx, tianshu.WithComponent(srv), tianshu.WithStarted(func([]net.Addr) {
		p.Log.Info("gateway serving", "url", srv.Instance().Endpoints[0].String())
	}))
	if errors.Is(err, rest.ErrListen) {
		return fmt.Errorf("%w (set gateway.http or SHOP_GATEWAY__HTTP)", err)
	}
	return err
}

// ServerOptions are the gateway's own settings of its rest.Server, beside those every shop
// HTTP server has (kit.Process.NewHTTPServer).
func ServerOptions() []rest.ServerOption {
	return []rest.ServerOption{rest.WithMaxBodyBytes(MaxBodyBytes)}
}

func newGateway(cfg *config.Value[Config], orders shoppb.OrdersClient, id string) *gateway {
	return &gateway{cfg: cfg, orders: orders, status: Status{Instance: id, ServedBy: map[string]int64{}}}
}

type gateway struct {
	cfg    *config.Value[Config]
	orders shoppb.OrdersClient

	mu     sync.Mutex
	status Status
}

// routes are the gateway's API. rest.Server answers unrouted requests (404, and 405 with
// Allow) with the JSON error body, as every other error here.
func (g *gateway) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", g.place)
	mux.HandleFunc("GET /orders", g.list)
	mux.HandleFunc("GET /status", g.statusDoc)
	return mux
}

func (g *gateway) place(w http.ResponseWriter, r *http.Request) {
	var req PlaceRequest
	// The server limits the body (MaxBodyBytes): a longer one fails Decode, and the server
	// answers 413 in place of the 400 written here.
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		g.count(nil, http.StatusBadRequest, err)
		httperr.Write(w, status.New(codes.InvalidArgument, `invalid order: want {"item": "tea", "quantity": 1}: `+err.Error()))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), g.cfg.Load().Timeout)
	defer cancel()
	o, err := g.orders.PlaceOrder(ctx, &shoppb.PlaceOrderRequest{Item: req.Item, Quantity: req.Quantity})
	if err != nil {
		st := status.Convert(err)
		g.count(nil, httperr.HTTPStatus(st.Code()), err)
		httperr.Write(w, st)
		return
	}
	out := toJSON(o)
	code := http.StatusCreated
	if out.Status == StatusPaymentPending {
		code = http.StatusAccepted
	}
	g.count(&out, code, nil)
	writeJSON(w, code, out)
}

func (g *gateway) list(w http.ResponseWriter, r *http.Request) {
	limit := 20
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			httperr.Write(w, status.Newf(codes.InvalidArgument, "limit %q: want a number from 1 to 1000", s))
			return
		}
		limit = n
	}
	ctx, cancel := context.WithTimeout(r.Context(), g.cfg.Load().Timeout)
	defer cancel()
	// One orders instance keeps its own orders: with several, this lists one instance's.
	rep, err := g.orders.ListOrders(ctx, &shoppb.ListOrdersRequest{Limit: int32(limit)})
	if err != nil {
		httperr.Write(w, status.Convert(err))
		return
	}
	out := make([]Order, len(rep.Orders))
	for i, o := range rep.Orders {
		out[i] = toJSON(o)
	}
	writeJSON(w, http.StatusOK, out)
}

func (g *gateway) statusDoc(w http.ResponseWriter, _ *http.Request) {
	g.mu.Lock()
	st := g.status
	st.ServedBy = make(map[string]int64, len(g.status.ServedBy))
	for k, v := range g.status.ServedBy {
		st.ServedBy[k] = v
	}
	g.mu.Unlock()
	writeJSON(w, http.StatusOK, st)
}

func (g *gateway) count(o *Order, code int, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case o != nil:
		g.status.Placed++
		if o.Status == StatusPaymentPending {
			g.status.Pending++
		}
		for _, id := range []string{o.ServedBy.Orders, o.ServedBy.Inventory, o.ServedBy.Payment} {
			if id != "" {
				g.status.ServedBy[id]++
			}
		}
	case code >= 500:
		g.status.Failed++
		g.status.LastError = err.Error()
	default:
		g.status.Rejected++
	}
}

func toJSON(o *shoppb.Order) Order {
	st := StatusPaid
	if o.Status == shoppb.OrderStatus_ORDER_STATUS_PAYMENT_PENDING {
		st = StatusPaymentPending
	}
	return Order{ID: o.Id, Item: o.Item, Quantity: o.Quantity, AmountCents: o.AmountCents, Status: st,
		ServedBy: ServedBy{Orders: o.OrdersInstance, Inventory: o.InventoryInstance, Payment: o.PaymentInstance}}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
