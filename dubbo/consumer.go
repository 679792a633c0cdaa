package dubbo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Consumer is a Dubbo consumer of one interface, group and version, as Dubbo's registries
// list it for Dubbo Admin and the other tools that show who calls a service: a child of
// /dubbo/<interface>/consumers in ZooKeeper, an instance of the service
// consumers:<interface>:<version>:<group> in Nacos. Nothing routes by it.
type Consumer struct {
	// Interface is the interface called: the Tianshu service name.
	Interface string
	// Group and Version are the Dubbo group and version called; empty when none.
	Group, Version string
	// Application is the consumer's application name; the program's file name when empty.
	Application string
	// Host is the consumer's IP address. Required.
	Host string
	// PID is the consumer's process ID; this process's when zero.
	PID int
	// Timestamp is when the consumer started; now when zero.
	Timestamp time.Time
	// Release is the release parameter; Release when empty.
	Release string
}

// ConsumerRegistrar is implemented by the registries that can list a Dubbo consumer where
// Dubbo's tools look for it (registry/zookeeper in Dubbo's layout; registry/nacos with
// Dubbo naming, when asked to). rpc.Dial with rpc.WithDubbo calls RegisterConsumer and
// calls deregister when the connection closes; deregister may be called more than once.
// The entry is kept while the registry's session lives, and written again in a new one.
type ConsumerRegistrar interface {
	RegisterConsumer(ctx context.Context, c Consumer) (deregister func(), err error)
}

// URL returns the consumer's URL as a Java Dubbo 3.3 consumer of Triple writes it, without
// a port: tri://<host>/<interface>?application=..&category=consumers&side=consumer&...
// (Dubbo writes consumer:// only for references that name no protocol; a Tianshu consumer
// always calls over Triple). It carries the parameters Dubbo Admin reads (application,
// category, side, interface, group, version, release, dubbo, pid, timestamp) and check and
// protocol, but no methods: a connection does not know which methods its callers will
// call. Errors wrap ErrInvalidURL: no interface, a host that is not an IP address or host
// name, or a value that a URL cannot carry unescaped.
func (c Consumer) URL() (URL, error) {
	if c.Interface == "" {
		return URL{}, fmt.Errorf("%w: consumer with no interface", ErrInvalidURL)
	}
	if !validHost(c.Host) {
		return URL{}, fmt.Errorf("%w: consumer of %q: host %q is neither an IP address nor a host name", ErrInvalidURL, c.Interface, c.Host)
	}
	if !validText(c.Interface, "?/&=") {
		return URL{}, fmt.Errorf("%w: consumer interface %q has a space, a control character or one of ? / & = #", ErrInvalidURL, c.Interface)
	}
	pid := c.PID
	if pid == 0 {
		pid = os.Getpid()
	}
	ts := c.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	app := c.Application
	if app == "" {
		app = filepath.Base(os.Args[0])
	}
	params := map[string]string{
		KeyApplication: app,
		KeyCategory:    "consumers",
		"check":        "false", // a Tianshu connection waits for providers rather than failing
		KeyProtocol:    ProtocolVersion,
		KeyInterface:   c.Interface,
		KeyPID:         strconv.Itoa(pid),
		KeyURLProtocol: "tri",
		KeyRelease:     cmp(c.Release, Release),
		KeySide:        "consumer",
		KeyTimestamp:   strconv.FormatInt(ts.UnixMilli(), 10),
	}
	if c.Group != "" {
		params[KeyGroup] = c.Group
	}
	if c.Version != "" {
		params[KeyVersion] = c.Version
	}
	for k, v := range params {
		if err := checkParam(k, v); err != nil {
			return URL{}, fmt.Errorf("consumer of %q: %w", c.Interface, err)
		}
	}
	return URL{Protocol: "tri", Host: c.Host, Path: c.Interface, Params: params}, nil
}

// NacosConsumerService returns the Nacos service name under which Dubbo lists the
// consumers of an interface, group and version: consumers:<interface>:<version>:<group>.
func NacosConsumerService(iface, version, group string) string {
	return "consumers:" + iface + ":" + version + ":" + group
}
