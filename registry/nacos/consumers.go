package nacos

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"

	"github.com/nacos-group/nacos-sdk-go/v2/model"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/internal/announce"
	"github.com/tianshu-go/tianshu/registry"
)

var _ dubbo.ConsumerRegistrar = (*Registry)(nil)

// WithDubboConsumers makes a Registry with WithDubboNaming list the Dubbo consumers that
// rpc.Dial opens through it (connections with rpc.WithDubbo), as a Java Dubbo consumer does
// with the registry parameter register-consumer-url=true: off by default, as in Dubbo, whose
// Nacos registry lists no consumer unless told to.
func WithDubboConsumers() Option { return func(o *options) { o.dubboConsumers = true } }

// consumerID is the entry of this process's consumer in a consumers:... service. Nacos
// keeps one instance per ip:port, and a consumer has no port: every consumer of the same
// interface, version and group in this process is the same instance, counted in
// consumerSet.
const consumerID = "dubbo-consumer"

// consumerSet counts the consumers registered per Nacos service. The zero value is ready.
type consumerSet struct {
	mu   sync.Mutex
	refs map[svcKey]int
}

// RegisterConsumer lists a Dubbo consumer as a Java Dubbo consumer with
// register-consumer-url=true lists itself: an instance at the consumer's IP with port 0 of
// the service consumers:<interface>:<version>:<group>, whose metadata is the consumer URL's
// parameters (see dubbo.Consumer.URL) plus path. It does nothing without WithDubboNaming
// and WithDubboConsumers. The application is WithApplication's when c names none, the
// host this host's first non-loopback IPv4 address.
//
// The entry lives while this Registry's connection does. When the server cannot be reached
// the error wraps registry.ErrUnavailable and the entry is sent once it can; deregister
// removes it when the last consumer of the service in this Registry goes.
func (r *Registry) RegisterConsumer(ctx context.Context, c dubbo.Consumer) (deregister func(), err error) {
	if r.o.dubbo == nil || !r.o.dubboConsumers {
		return func() {}, nil
	}
	if r.isClosed() {
		return nil, fmt.Errorf("nacos: register consumer of %q: %w", c.Interface, registry.ErrClosed)
	}
	if c.Application == "" {
		c.Application = r.o.appName
	}
	if c.Host == "" {
		c.Host = announce.OutboundIP()
	}
	u, err := c.URL()
	if err != nil {
		return nil, fmt.Errorf("nacos: register consumer: %w", err)
	}
	md := maps.Clone(u.Params)
	md[dubbo.KeyPath] = c.Interface
	h := model.Instance{
		Ip: c.Host, Weight: 1, Enable: true, Healthy: true, Ephemeral: true,
		ClusterName: r.o.cluster, Metadata: md,
	}
	k := svcKey{group: r.o.group, name: dubbo.NacosConsumerService(c.Interface, c.Version, c.Group)}
	r.consumers.mu.Lock()
	defer r.consumers.mu.Unlock()
	if r.consumers.refs[k] == 0 {
		err = r.n.put(k, r, consumerID, h)
		if err != nil && !errors.Is(err, registry.ErrUnavailable) {
			return nil, fmt.Errorf("nacos: register consumer of %q: %w", c.Interface, err)
		}
	}
	if r.consumers.refs == nil {
		r.consumers.refs = map[svcKey]int{}
	}
	r.consumers.refs[k]++
	var once sync.Once
	return func() { once.Do(func() { r.dropConsumer(k) }) }, err
}

func (r *Registry) dropConsumer(k svcKey) {
	r.consumers.mu.Lock()
	defer r.consumers.mu.Unlock()
	if r.consumers.refs[k]--; r.consumers.refs[k] > 0 {
		return
	}
	delete(r.consumers.refs, k)
	if !r.isClosed() { // Close removed it with the rest
		if _, err := r.n.remove(k, r, consumerID); err != nil {
			r.o.log.Warn("nacos: cannot remove a Dubbo consumer entry; it goes with the connection", "service", k.name, "err", err)
		}
	}
}
