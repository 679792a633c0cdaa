// Package api is the shop's JSON API: it places and lists orders by calling the orders
// service over Tianshu RPC, and keeps a status document counting what it answered and
// which instances served. It serves through rest.Server, which announces it in the
// registry as service "shop-api" (or the name its config gives, for a canary) with an
// http endpoint, and gives it telemetry, panic recovery, a body limit and the project's
// JSON error body. The shop's front door, Tianshu's gateway (internal/front), routes to
// it by that name.
package api

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
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/rest"
	"github.com/tianshu-go/tianshu/rpc/httperr"
)

// Service is the program's name (its config file is shop-api.yaml, its spans' service) and
// the registry name it registers under unless its config names another.
const Service = "shop-api"

// Headers of the API's exchanges.
const (
	// ServedByHeader names, on every answer, the API instance that gave it, so that a
	// caller behind the front door sees where a canary split sent it.
	ServedByHeader = "X-Shop-Api"
	// GatewayHeader carries the ID of the front-door instance a request came through; the
	// front door sets it, and the status document counts orders by it.
	GatewayHeader = "X-Shop-Gateway"
)

// ErrConfig is wrapped by the errors about an api section that cannot work.
var ErrConfig = errors.New("shop-api: invalid config")

// Config is the api section of shop-api.yaml.
type Config struct {
	// HTTP is the address of the JSON API.
	HTTP string `config:"http" default:"127.0.0.1:0"`
	// Timeout bounds each call to orders.
	Timeout time.Duration `config:"timeout" default:"2s"`
	// Service is the registry name; a canary registers under a name of its own
	// (shop-api-canary), which a front-door route's canary target names. Read at start.
	Service string `config:"service" default:"shop-api"`
	// Version is the instance's version label, shown by the front door's admin API
	// (/upstreams). Read at start.
	Version string `config:"version" default:"v1"`
}

// Validate rejects a timeout the API cannot use and a service name the registry would.
func (c *Config) Validate() error {
	if c.Timeout <= 0 {
		return fmt.Errorf("%w: timeout %v must be positive", ErrConfig, c.Timeout)
	}
	if err := registry.ValidateName("service", c.Service); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

func (c *Config) String() string {
	return fmt.Sprintf("http=%s timeout=%v service=%s version=%s", c.HTTP, c.Timeout, c.Service, c.Version)
}

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
	// Gateway is the front-door instance the order came through (GatewayHeader), if any.
	Gateway   string `json:"gateway,omitempty"`
	API       string `json:"api"`
	Orders    string `json:"orders"`
	Inventory string `json:"inventory"`
	Payment   string `json:"payment,omitempty"`
}

// Status is the document GET /status returns: counters since the instance started.
type Status struct {
	Instance string `json:"instance"`
	Version  string `json:"version"`
	// Placed counts orders placed (paid or pending); Pending those with payment pending.
	Placed  int64 `json:"placed"`
	Pending int64 `json:"pending"`
	// Failed counts order requests answered 5xx; Rejected those answered 4xx.
	Failed   int64 `json:"failed"`
	Rejected int64 `json:"rejected"`
	// ServedBy counts, per instance ID, the placed orders it served a part of: the front
	// door's instances, orders, inventory and payment.
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

// Main runs the API until SIGINT, SIGTERM or the end of ctx: a rest.Server, announced in
// the registry with an http endpoint under the configured service name and version, as a
// component of a tianshu.App.
func Main(ctx context.Context, args []string) error {
	p, err := kit.Start(ctx, Service, args)
	if err != nil {
		return err
	}
	defer p.Close()
	cfg, err := config.Bind[Config](p.Config, "api")
	if err != nil {
		return err
	}
	kit.OnReload(p, cfg, (*Config).String)
	conn, err := p.Dial(ctx, "orders")
	if err != nil {
		return err
	}
	p.AddCloser(func(context.Context) error { return conn.Close() })
	c := cfg.Load()
	a := newAPI(cfg, shoppb.NewOrdersClient(conn), p.ID, c.Version)

	srv, err := p.NewHTTPServer(c.HTTP, a.routes(), append(ServerOptions(),
		rest.WithService(c.Service),
		rest.WithInstance(registry.Instance{ID: p.ID, Version: c.Version, Metadata: map[string]string{kit.AdminKey: p.AdminURL()}}))...)
	if err != nil {
		return err
	}
	err = p.Run(ctx, tianshu.WithComponent(srv), tianshu.WithStarted(func([]net.Addr) {
		p.Log.Info("shop-api serving", "service", c.Service, "version", c.Version, "url", srv.Instance().Endpoints[0].String())
	}))
	if errors.Is(err, rest.ErrListen) {
		return fmt.Errorf("%w (set api.http or SHOP_API__HTTP)", err)
	}
	return err
}

// ServerOptions are the API's own settings of its rest.Server, beside those every shop
// HTTP server has (kit.Process.NewHTTPServer).
func ServerOptions() []rest.ServerOption {
	return []rest.ServerOption{rest.WithMaxBodyBytes(MaxBodyBytes)}
}

func newAPI(cfg *config.Value[Config], orders shoppb.OrdersClient, id, version string) *api {
	return &api{cfg: cfg, orders: orders, status: Status{Instance: id, Version: version, ServedBy: map[string]int64{}}}
}

type api struct {
	cfg    *config.Value[Config]
	orders shoppb.OrdersClient

	mu     sync.Mutex
	status Status
}

// routes are the API. rest.Server answers unrouted requests (404, and 405 with Allow) with
// the JSON error body, as every other error here. Every answer names the instance in
// ServedByHeader.
func (g *api) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", g.served(g.place))
	mux.HandleFunc("GET /orders", g.served(g.list))
	mux.HandleFunc("GET /status", g.served(g.statusDoc))
	return mux
}

func (g *api) served(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(ServedByHeader, g.status.Instance)
		h(w, r)
	}
}

func (g *api) place(w http.ResponseWriter, r *http.Request) {
	var req PlaceRequest
	// The server limits the body (MaxBodyBytes): a longer one fails Decode, and the server
	// answers 413 in place of the 400 written here.
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		g.count(nil, "", http.StatusBadRequest, err)
		httperr.Write(w, status.New(codes.InvalidArgument, `invalid order: want {"item": "tea", "quantity": 1}: `+err.Error()))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), g.cfg.Load().Timeout)
	defer cancel()
	o, err := g.orders.PlaceOrder(ctx, &shoppb.PlaceOrderRequest{Item: req.Item, Quantity: req.Quantity})
	if err != nil {
		st := status.Convert(err)
		g.count(nil, "", httperr.HTTPStatus(st.Code()), err)
		httperr.Write(w, st)
		return
	}
	out := toJSON(o)
	out.ServedBy.Gateway, out.ServedBy.API = r.Header.Get(GatewayHeader), g.status.Instance
	code := http.StatusCreated
	if out.Status == StatusPaymentPending {
		code = http.StatusAccepted
	}
	g.count(&out, out.ServedBy.Gateway, code, nil)
	writeJSON(w, code, out)
}

func (g *api) list(w http.ResponseWriter, r *http.Request) {
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
		out[i] = toJSON(o) // placed through any API instance: the one that placed it is not kept
	}
	writeJSON(w, http.StatusOK, out)
}

func (g *api) statusDoc(w http.ResponseWriter, _ *http.Request) {
	g.mu.Lock()
	st := g.status
	st.ServedBy = make(map[string]int64, len(g.status.ServedBy))
	for k, v := range g.status.ServedBy {
		st.ServedBy[k] = v
	}
	g.mu.Unlock()
	writeJSON(w, http.StatusOK, st)
}

// count counts one answer to POST /orders; via is the front-door instance it came through.
func (g *api) count(o *Order, via string, code int, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case o != nil:
		g.status.Placed++
		if o.Status == StatusPaymentPending {
			g.status.Pending++
		}
		for _, id := range []string{via, o.ServedBy.Orders, o.ServedBy.Inventory, o.ServedBy.Payment} {
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
