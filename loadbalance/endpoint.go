package loadbalance

import (
	"google.golang.org/grpc/resolver"

	"github.com/tianshu-go/tianshu/registry"
)

// instanceKey keys the registry instance in resolver.Endpoint.Attributes.
type instanceKey struct{}

// instanceValue gives the instance the Equal method grpc uses to tell whether endpoint
// attributes changed: an equal instance keeps the endpoint's child balancer as it is.
type instanceValue struct{ in *registry.Instance }

func (v instanceValue) Equal(o any) bool {
	ov, ok := o.(instanceValue)
	return ok && v.in.Equal(ov.in)
}

// WithInstance returns ep with the registry instance it came from stored in its attributes,
// where Tianshu's balancers and filters read weight, zone, version and metadata. The
// resolver of package rpc calls it for every endpoint it reports.
func WithInstance(ep resolver.Endpoint, in *registry.Instance) resolver.Endpoint {
	ep.Attributes = ep.Attributes.WithValue(instanceKey{}, instanceValue{in})
	return ep
}

// InstanceOf returns the registry instance stored by WithInstance, if any.
func InstanceOf(ep resolver.Endpoint) (*registry.Instance, bool) {
	v, ok := ep.Attributes.Value(instanceKey{}).(instanceValue)
	if !ok || v.in == nil {
		return nil, false
	}
	return v.in, true
}
