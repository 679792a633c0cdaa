package nacos

import (
	"strings"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/registry"
)

type dubboNaming struct{ version, group string }

// WithDubboNaming stores and looks up services under the names Dubbo uses in Nacos,
// providers:<interface>:<version>:<group>, where the interface is the Tianshu service name
// (for a gRPC service, its full protobuf name such as greeter.v1.Greeter, which is the path a
// Dubbo 3 Triple consumer calls). Registered instances also carry Dubbo's URL parameters as
// metadata (side, interface, version, group, protocol, application, release, ...), so that
// Java Dubbo consumers find them. Without this option, a consumer can still watch a Dubbo
// provider by passing the full Dubbo name as the service.
func WithDubboNaming(version, group string) Option {
	return func(o *options) { o.dubbo = &dubboNaming{version: version, group: group} }
}

// DubboServiceName returns Dubbo's Nacos service name for an interface, version and group:
// providers:<interface>:<version>:<group>, with empty parts left empty.
func DubboServiceName(iface, version, group string) string {
	return "providers:" + iface + ":" + version + ":" + group
}

// nacosName maps a Tianshu service name to the Nacos one.
func (o *options) nacosName(service string) string {
	if o.dubbo == nil || strings.HasPrefix(service, "providers:") {
		return service
	}
	return DubboServiceName(service, o.dubbo.version, o.dubbo.group)
}

// dubboParams are the URL parameters a Dubbo provider publishes, for Java consumers; the
// instance's own metadata wins over them. They are package dubbo's (as registry/zookeeper
// writes them) plus what Dubbo's Nacos registry adds because metadata has no URL: category,
// protocol and path.
func (o *options) dubboParams(in *registry.Instance) map[string]string {
	if o.dubbo == nil {
		return nil
	}
	protocol := primary(in).Scheme
	if protocol == "grpc" || protocol == "grpcs" {
		protocol = "tri" // Dubbo 3's Triple speaks gRPC; its consumers select it by this name
	}
	p := dubbo.Publish{Application: o.appName}.Params(in)
	p[dubbo.KeyPath] = in.Service
	p[dubbo.KeyURLProtocol] = protocol
	p[dubbo.KeyCategory] = "providers"
	if o.dubbo.version != "" {
		p[dubbo.KeyVersion] = o.dubbo.version
	}
	if o.dubbo.group != "" {
		p[dubbo.KeyGroup] = o.dubbo.group
	}
	return p
}
