package rest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/tianshu-go/tianshu/internal/backoff"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/rpc"
)

// The registration below follows rpc.Server's step for step (build the instance from the
// listener, register in the background with capped backoff, deregister with a few seconds of
// its own). rpc keeps its steps unexported; both servers should share one implementation.

// newTLSConfig returns the reloading TLS configuration of rpc, offering HTTP/2 and HTTP/1.1.
func newTLSConfig(f rpc.TLSFiles) (*tls.Config, error) {
	return rpc.NewServerTLSConfig(f, "h2", "http/1.1")
}

func (s *Server) buildInstance(addr net.Addr) (*registry.Instance, error) {
	in := s.o.instance.Clone()
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return nil, fmt.Errorf("%w: listener on %v: want a TCP listener", ErrInvalidOption, addr)
	}
	host := s.o.advertiseHost
	if host == "" {
		host = tcp.IP.String()
		if tcp.IP.IsUnspecified() {
			host = outboundIP()
		}
	}
	eps := make([]registry.Endpoint, 0, len(s.schemes)+len(in.Endpoints))
	for _, sc := range s.schemes {
		eps = append(eps, registry.Endpoint{Scheme: sc, Host: host, Port: tcp.Port})
	}
	in.Endpoints = append(eps, in.Endpoints...)
	if s.o.registrar == nil {
		return in, nil
	}
	if in.ID == "" {
		hn, _ := os.Hostname()
		in.ID = in.Service + "-" + hn + "-" + strconv.Itoa(os.Getpid()) + "-" + strconv.Itoa(tcp.Port)
	}
	if err := in.Validate(); err != nil {
		return nil, fmt.Errorf("%w: instance to register: %w", ErrInvalidOption, err)
	}
	return in, nil
}

// outboundIP returns the first non-loopback IPv4 address of this host, or 127.0.0.1.
func outboundIP() string {
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
				return n.IP.String()
			}
		}
	}
	return "127.0.0.1"
}

func (s *Server) register(ctx context.Context, in *registry.Instance) {
	defer close(s.regDone)
	if s.o.registrar == nil {
		return
	}
	for attempt := 0; ; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := s.o.registrar.Register(rctx, in)
		cancel()
		if err == nil {
			s.o.log.Info("registered", "service", in.Service, "instance", in.ID, "endpoints", in.Endpoints)
			return
		}
		if ctx.Err() != nil {
			return
		}
		s.o.log.Warn("registration failed; retrying", "service", in.Service, "instance", in.ID,
			"attempt", attempt+1, "err", err)
		if errors.Is(err, registry.ErrInvalidInstance) || errors.Is(err, registry.ErrClosed) ||
			!backoff.Sleep(ctx, backoff.Default.Delay(attempt)) {
			return
		}
	}
}

func (s *Server) deregisterInstance(ctx context.Context, in *registry.Instance) error {
	if s.o.registrar == nil {
		return nil
	}
	// Deregistering is what keeps consumers away from a stopping server, so it gets a few
	// seconds of its own even when the caller's context is already done.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := s.o.registrar.Deregister(dctx, in)
	if err == nil || errors.Is(err, registry.ErrClosed) { // Close deregistered it
		return nil
	}
	return fmt.Errorf("%w: instance %q of %q: %w; consumers drop it when the registry notices it is gone",
		rpc.ErrDeregister, in.ID, in.Service, err)
}
