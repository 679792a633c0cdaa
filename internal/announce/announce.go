// Package announce holds the steps by which a Tianshu server, gRPC (rpc) or HTTP (rest),
// makes itself known: the instance built from its listener, registration in the
// background until it holds, and deregistration with time of its own. Both servers take
// the same steps so that a consumer cannot tell which kind announced an instance.
package announce

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/tianshu-go/tianshu/internal/backoff"
	"github.com/tianshu-go/tianshu/registry"
)

// ErrNotTCP is returned by Instance for a listener that is not TCP: an instance needs a
// host and a port.
var ErrNotTCP = errors.New("want a TCP listener")

// Instance returns base with one endpoint per scheme on addr's port, in front of base's own
// endpoints. The host is advertise, or addr's IP, or, for a wildcard address, this host's
// first non-loopback IPv4 address. With withID, an empty ID becomes
// service-hostname-pid-port and the instance is validated, as a registrar requires.
func Instance(base *registry.Instance, addr net.Addr, schemes []string, advertise string,
	withID bool) (*registry.Instance, error) {
	in := base.Clone()
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return nil, fmt.Errorf("%w: listener on %v", ErrNotTCP, addr)
	}
	host := advertise
	if host == "" {
		host = tcp.IP.String()
		if tcp.IP.IsUnspecified() {
			host = OutboundIP()
		}
	}
	eps := make([]registry.Endpoint, 0, len(schemes)+len(in.Endpoints))
	for _, sc := range schemes {
		eps = append(eps, registry.Endpoint{Scheme: sc, Host: host, Port: tcp.Port})
	}
	in.Endpoints = append(eps, in.Endpoints...)
	if !withID {
		return in, nil
	}
	if in.ID == "" {
		hn, _ := os.Hostname()
		in.ID = in.Service + "-" + hn + "-" + strconv.Itoa(os.Getpid()) + "-" + strconv.Itoa(tcp.Port)
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	return in, nil
}

// OutboundIP returns the first non-loopback IPv4 address of this host, or 127.0.0.1.
func OutboundIP() string {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
				return n.IP.String()
			}
		}
	}
	return "127.0.0.1"
}

// Register registers in with r until it holds, ctx ends, or the registry refuses it for
// good (an invalid instance, a closed registry), with capped backoff between attempts of
// ten seconds each: a registry that is down while the server starts delays the
// announcement, not the serving.
func Register(ctx context.Context, r registry.Registrar, in *registry.Instance, log *slog.Logger) {
	for attempt := 0; ; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := r.Register(rctx, in)
		cancel()
		if err == nil {
			log.Info("registered", "service", in.Service, "instance", in.ID, "endpoints", in.Endpoints)
			return
		}
		if ctx.Err() != nil {
			return
		}
		log.Warn("registration failed; retrying", "service", in.Service, "instance", in.ID,
			"attempt", attempt+1, "err", err)
		if errors.Is(err, registry.ErrInvalidInstance) || errors.Is(err, registry.ErrClosed) ||
			!backoff.Sleep(ctx, backoff.Default.Delay(attempt)) {
			return
		}
	}
}

// Deregister removes in from r. Deregistering is what keeps consumers from calling a
// stopping server, so it gets five seconds of its own even when ctx is already done. A
// closed registry has deregistered the instance already: nil.
func Deregister(ctx context.Context, r registry.Registrar, in *registry.Instance) error {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := r.Deregister(dctx, in)
	if errors.Is(err, registry.ErrClosed) {
		return nil
	}
	return err
}
