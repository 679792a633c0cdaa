// Package orders is the shop's order service: it reserves stock at inventory, charges at
// payment, and keeps the latest orders in memory. Payment calls go through a circuit
// breaker; while it is open, orders are accepted with the status PAYMENT_PENDING instead of
// failing, which is the breaker's fallback.
package orders

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tianshu-go/tianshu/breaker"
	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/examples/shop/internal/kit"
	"github.com/tianshu-go/tianshu/examples/shop/shoppb"
	"github.com/tianshu-go/tianshu/metrics"
)

// Config is the orders section of orders.yaml.
type Config struct {
	// PaymentTimeout bounds each charge; a slow payment counts as a failure.
	PaymentTimeout time.Duration `config:"payment_timeout" default:"250ms"`
	// InventoryTimeout bounds each reservation.
	InventoryTimeout time.Duration `config:"inventory_timeout" default:"1s"`
	// Keep is how many of the latest orders ListOrders can return.
	Keep int `config:"keep" default:"1000"`
	// Breaker guards the payment calls; read once, at start.
	Breaker BreakerConfig `config:"breaker"`
}

// BreakerConfig sets up the circuit breaker in front of payment.
type BreakerConfig struct {
	Window       time.Duration `config:"window" default:"5s"`
	MinRequests  int           `config:"min_requests" default:"10"`
	FailureRatio float64       `config:"failure_ratio" default:"0.5"`
	SleepWindow  time.Duration `config:"sleep_window" default:"2s"`
	Probes       int           `config:"probes" default:"3"`
}

// Validate rejects settings the service cannot use; the last good config then stays.
func (c *Config) Validate() error {
	if c.PaymentTimeout <= 0 || c.InventoryTimeout <= 0 {
		return fmt.Errorf("timeouts must be positive, got payment_timeout=%v inventory_timeout=%v", c.PaymentTimeout, c.InventoryTimeout)
	}
	if c.Keep < 1 {
		return fmt.Errorf("keep is %d, want at least 1", c.Keep)
	}
	return nil
}

func (c *Config) String() string {
	return fmt.Sprintf("payment_timeout=%v inventory_timeout=%v keep=%d", c.PaymentTimeout, c.InventoryTimeout, c.Keep)
}

// Main runs one orders instance until SIGINT, SIGTERM or the end of ctx.
func Main(ctx context.Context, args []string) error {
	p, err := kit.Start(ctx, "orders", args)
	if err != nil {
		return err
	}
	s, err := newServer(ctx, p)
	if err != nil {
		p.Close()
		return err
	}
	p.AddCloser(func(context.Context) error { s.close(); return nil })
	srv := p.NewServer()
	shoppb.RegisterOrdersServer(srv, s)
	return p.Serve(ctx, srv)
}

type server struct {
	shoppb.UnimplementedOrdersServer
	id        string
	cfg       *config.Value[Config]
	inventory shoppb.InventoryClient
	payment   shoppb.PaymentClient
	closers   []func() error
	seq       atomic.Int64

	mu     sync.Mutex
	orders []*shoppb.Order // the latest, oldest first
}

func newServer(ctx context.Context, p *kit.Process) (s *server, err error) {
	cfg, err := config.Bind[Config](p.Config, "orders")
	if err != nil {
		return nil, err
	}
	kit.OnReload(p, cfg, (*Config).String)
	s = &server{id: p.ID, cfg: cfg}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	b := cfg.Load().Breaker
	group, err := breaker.NewGroup(breaker.CircuitFactory(
		breaker.WithWindow(b.Window, 10),
		breaker.WithMinRequests(b.MinRequests),
		breaker.WithFailureRatio(b.FailureRatio),
		breaker.WithSleepWindow(b.SleepWindow),
		breaker.WithHalfOpenProbes(b.Probes),
		breaker.WithOnStateChange(func(name string, from, to breaker.State) {
			p.Log.Warn("breaker changed state", "breaker", name, "from", from.String(), "to", to.String())
		})))
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, group.Close)
	reg, err := metrics.ObserveBreakers(p.Metrics.MeterProvider(), group, attribute.String("instance", p.ID))
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, reg.Unregister)

	inv, err := p.Dial(ctx, "inventory")
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, inv.Close)
	pay, err := p.Dial(ctx, "payment", breaker.UnaryClientInterceptor(group, breaker.WithUnaryFallback(pending)))
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, pay.Close)
	s.inventory, s.payment = shoppb.NewInventoryClient(inv), shoppb.NewPaymentClient(pay)
	return s, nil
}

// pending answers a charge the breaker refused: the order is taken, its payment later.
func pending(_ context.Context, _ string, _, reply any, err error) error {
	r, ok := reply.(*shoppb.ChargeReply)
	if !ok {
		return err
	}
	r.Pending = true
	return nil
}

func (s *server) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		_ = s.closers[i]()
	}
	s.closers = nil
}

func (s *server) PlaceOrder(ctx context.Context, req *shoppb.PlaceOrderRequest) (*shoppb.Order, error) {
	if req.Item == "" {
		return nil, status.Error(codes.InvalidArgument, "orders: item is empty")
	}
	if req.Quantity < 1 || req.Quantity > 100 {
		return nil, status.Errorf(codes.InvalidArgument, "orders: quantity %d is outside 1-100", req.Quantity)
	}
	c := s.cfg.Load()
	id := s.id + "-" + strconv.FormatInt(s.seq.Add(1), 10)

	ictx, cancel := context.WithTimeout(ctx, c.InventoryTimeout)
	res, err := s.inventory.Reserve(ictx, &shoppb.ReserveRequest{OrderId: id, Item: req.Item, Quantity: req.Quantity})
	cancel()
	if err != nil {
		return nil, relay("inventory", err)
	}
	o := &shoppb.Order{
		Id: id, Item: req.Item, Quantity: req.Quantity, AmountCents: res.UnitPriceCents * int64(req.Quantity),
		OrdersInstance: s.id, InventoryInstance: res.ServedBy,
	}

	pctx, cancel := context.WithTimeout(ctx, c.PaymentTimeout)
	pay, err := s.payment.Charge(pctx, &shoppb.ChargeRequest{OrderId: id, AmountCents: o.AmountCents})
	cancel()
	switch {
	case err != nil:
		// A real shop would release the reservation here; the demo's stock is plentiful.
		return nil, relay("payment", err)
	case pay.Pending:
		o.Status = shoppb.OrderStatus_ORDER_STATUS_PAYMENT_PENDING
	default:
		o.Status, o.PaymentInstance = shoppb.OrderStatus_ORDER_STATUS_PAID, pay.ServedBy
	}
	s.keep(o, c.Keep)
	return o, nil
}

// relay passes a downstream error on with its code, naming the service that gave it.
func relay(service string, err error) error {
	st := status.Convert(err)
	return status.Errorf(st.Code(), "orders: calling %s: %s", service, st.Message())
}

func (s *server) keep(o *shoppb.Order, limit int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.orders = append(s.orders, o)
	if over := len(s.orders) - limit; over > 0 {
		s.orders = append(s.orders[:0], s.orders[over:]...)
	}
}

func (s *server) ListOrders(_ context.Context, req *shoppb.ListOrdersRequest) (*shoppb.ListOrdersReply, error) {
	n := int(req.Limit)
	if n < 0 {
		return nil, status.Errorf(codes.InvalidArgument, "orders: limit %d is negative", n)
	}
	if n == 0 {
		n = 20
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n = min(n, len(s.orders))
	out := make([]*shoppb.Order, 0, n)
	for i := len(s.orders) - 1; i >= len(s.orders)-n; i-- {
		out = append(out, s.orders[i])
	}
	return &shoppb.ListOrdersReply{Orders: out}, nil
}
