package rest

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	"github.com/tianshu-go/tianshu/internal/announce"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/rpc"
)

// newTLSConfig returns the reloading TLS configuration of rpc, offering HTTP/2 and HTTP/1.1.
func newTLSConfig(f rpc.TLSFiles) (*tls.Config, error) {
	return rpc.NewServerTLSConfig(f, "h2", "http/1.1")
}

// buildInstance is the instance the server announces on addr: the steps rpc.Server takes
// (internal/announce), with the server's http or https scheme.
func (s *Server) buildInstance(addr net.Addr) (*registry.Instance, error) {
	in, err := announce.Instance(&s.o.instance, addr, s.schemes, s.o.advertiseHost, s.o.registrar != nil)
	if err != nil {
		return nil, fmt.Errorf("%w: instance to register: %w", ErrInvalidOption, err)
	}
	return in, nil
}

func (s *Server) register(ctx context.Context, in *registry.Instance) {
	defer close(s.regDone)
	if s.o.registrar != nil {
		announce.Register(ctx, s.o.registrar, in, s.o.log)
	}
}

func (s *Server) deregisterInstance(ctx context.Context, in *registry.Instance) error {
	if s.o.registrar == nil {
		return nil
	}
	if err := announce.Deregister(ctx, s.o.registrar, in); err != nil {
		return fmt.Errorf("%w: instance %q of %q: %w; consumers drop it when the registry notices it is gone",
			rpc.ErrDeregister, in.ID, in.Service, err)
	}
	return nil
}
