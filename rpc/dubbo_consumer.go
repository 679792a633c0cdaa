package rpc

import (
	"context"
	"log/slog"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/registry"
)

// registerConsumer lists conn as a Dubbo consumer of service in the registry, when the
// registry can (dubbo.ConsumerRegistrar, found through wrappers such as registry.Failover),
// so that Dubbo Admin shows who calls the service, and removes the entry when conn shuts
// down. The entry follows the connection, not its resolver: grpc-go closes the resolver of
// an idle channel and builds a new one later, and a consumer that is only idle has not gone.
func (s *dubboService) registerConsumer(ctx context.Context, conn *grpc.ClientConn, d registry.Discovery, service string, log *slog.Logger) {
	reg, ok := registry.Find[dubbo.ConsumerRegistrar](d)
	if !ok {
		return
	}
	deregister, err := reg.RegisterConsumer(ctx, dubbo.Consumer{Interface: service, Group: s.group, Version: s.version})
	if err != nil {
		// Calls do not depend on the entry: it only makes the consumer visible.
		log.Warn("dubbo: cannot list this connection among the service's consumers", "service", service, "err", err)
	}
	if deregister == nil {
		return
	}
	go func() {
		for st := conn.GetState(); st != connectivity.Shutdown; st = conn.GetState() {
			conn.WaitForStateChange(context.Background(), st)
		}
		deregister()
	}()
}
