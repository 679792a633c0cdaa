// Package payment is the shop's payment service: it charges an order after a configured
// latency and fails a configured share of charges, both read from the payment section of
// its config file on every call, so that editing the file makes it slow or failing at once,
// without a restart.
package payment

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/examples/shop/internal/kit"
	"github.com/tianshu-go/tianshu/examples/shop/shoppb"
)

// Config is the payment section of payment.yaml.
type Config struct {
	// Latency is how long each charge takes.
	Latency time.Duration `config:"latency" default:"5ms"`
	// FailureRate is the share of charges that fail with Unavailable, 0 to 1.
	FailureRate float64 `config:"failure_rate"`
}

// Validate rejects settings a payment service cannot have; the last good config then stays.
func (c *Config) Validate() error {
	if c.Latency < 0 || c.Latency > time.Minute {
		return fmt.Errorf("latency %v is outside 0-1m", c.Latency)
	}
	if !(c.FailureRate >= 0 && c.FailureRate <= 1) {
		return fmt.Errorf("failure_rate %v is outside 0-1", c.FailureRate)
	}
	return nil
}

func (c *Config) String() string {
	return fmt.Sprintf("latency=%v failure_rate=%v", c.Latency, c.FailureRate)
}

// Main runs one payment instance until SIGINT, SIGTERM or the end of ctx.
func Main(ctx context.Context, args []string) error {
	p, err := kit.Start(ctx, "payment", args)
	if err != nil {
		return err
	}
	cfg, err := config.Bind[Config](p.Config, "payment")
	if err == nil {
		err = observe(p, cfg)
	}
	if err != nil {
		p.Close()
		return err
	}
	kit.OnReload(p, cfg, (*Config).String)
	srv := p.NewServer()
	shoppb.RegisterPaymentServer(srv, &server{id: p.ID, cfg: cfg})
	return p.Serve(ctx, srv)
}

// observe exports the live settings, so a scrape shows that a reload took effect.
func observe(p *kit.Process, cfg *config.Value[Config]) error {
	_, err := p.Meter.Float64ObservableGauge("shop.payment.failure_rate",
		metric.WithDescription("The configured share of charges that fail."),
		metric.WithFloat64Callback(func(_ context.Context, o metric.Float64Observer) error {
			o.Observe(cfg.Load().FailureRate)
			return nil
		}))
	if err != nil {
		return err
	}
	_, err = p.Meter.Float64ObservableGauge("shop.payment.latency", metric.WithUnit("s"),
		metric.WithDescription("The configured latency of a charge."),
		metric.WithFloat64Callback(func(_ context.Context, o metric.Float64Observer) error {
			o.Observe(cfg.Load().Latency.Seconds())
			return nil
		}))
	return err
}

type server struct {
	shoppb.UnimplementedPaymentServer
	id  string
	cfg *config.Value[Config]
}

func (s *server) Charge(ctx context.Context, req *shoppb.ChargeRequest) (*shoppb.ChargeReply, error) {
	if req.AmountCents <= 0 {
		return nil, status.Errorf(codes.InvalidArgument, "payment: amount %d must be positive", req.AmountCents)
	}
	c := s.cfg.Load()
	if c.Latency > 0 {
		t := time.NewTimer(c.Latency)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-t.C:
		}
	}
	if rand.Float64() < c.FailureRate {
		return nil, status.Errorf(codes.Unavailable, "payment: simulated failure (failure_rate %v)", c.FailureRate)
	}
	return &shoppb.ChargeReply{PaymentId: "pay-" + req.OrderId, ServedBy: s.id}, nil
}
