// Package inventory is the shop's inventory service: it knows the price of each item and
// reserves stock. Each instance keeps its own stock in memory (a demo; a real one would
// share a database), starting from the configured amount. Prices and latency are read from
// the inventory section of its config file on every call.
package inventory

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/examples/shop/internal/kit"
	"github.com/tianshu-go/tianshu/examples/shop/shoppb"
)

// Config is the inventory section of inventory.yaml.
type Config struct {
	// Latency is how long each reservation takes.
	Latency time.Duration `config:"latency" default:"2ms"`
	// Stock is how many of each item an instance starts with; read once, at start.
	Stock int64 `config:"stock" default:"1000000"`
	// Prices maps item names to unit prices in cents; an item not listed is unknown.
	Prices map[string]int64 `config:"prices,required"`
}

// Validate rejects settings an inventory cannot have; the last good config then stays.
func (c *Config) Validate() error {
	if c.Latency < 0 || c.Latency > time.Minute {
		return fmt.Errorf("latency %v is outside 0-1m", c.Latency)
	}
	for item, p := range c.Prices {
		if p <= 0 {
			return fmt.Errorf("price of %q is %d, want a positive number of cents", item, p)
		}
	}
	return nil
}

func (c *Config) String() string {
	return fmt.Sprintf("latency=%v prices=%v", c.Latency, c.Prices)
}

// Main runs one inventory instance until SIGINT, SIGTERM or the end of ctx.
func Main(ctx context.Context, args []string) error {
	p, err := kit.Start(ctx, "inventory", args)
	if err != nil {
		return err
	}
	cfg, err := config.Bind[Config](p.Config, "inventory")
	if err != nil {
		p.Close()
		return err
	}
	kit.OnReload(p, cfg, (*Config).String)
	srv := p.NewServer()
	shoppb.RegisterInventoryServer(srv, &server{id: p.ID, cfg: cfg, taken: map[string]int64{}})
	return p.Serve(ctx, srv)
}

type server struct {
	shoppb.UnimplementedInventoryServer
	id  string
	cfg *config.Value[Config]

	mu    sync.Mutex
	taken map[string]int64 // items reserved so far, by item
}

func (s *server) Reserve(ctx context.Context, req *shoppb.ReserveRequest) (*shoppb.ReserveReply, error) {
	c := s.cfg.Load()
	if req.Quantity <= 0 {
		return nil, status.Errorf(codes.InvalidArgument, "inventory: quantity %d must be positive", req.Quantity)
	}
	item := strings.ToLower(req.Item)
	price, ok := c.Prices[item]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "inventory: no item %q", req.Item)
	}
	if c.Latency > 0 {
		t := time.NewTimer(c.Latency)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-t.C:
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	left := c.Stock - s.taken[item]
	if left < int64(req.Quantity) {
		return nil, status.Errorf(codes.FailedPrecondition, "inventory: %d %s left, %d asked", left, item, req.Quantity)
	}
	s.taken[item] += int64(req.Quantity)
	return &shoppb.ReserveReply{UnitPriceCents: price, Left: left - int64(req.Quantity), ServedBy: s.id}, nil
}
