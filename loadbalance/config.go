package loadbalance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"

	"google.golang.org/grpc/serviceconfig"

	"github.com/tianshu-go/tianshu/loadbalance/pick"
)

// Names of the balancers, as they appear in a gRPC service config.
const (
	// P2C is power of two choices over latency, in-flight calls and success rate: slow or
	// failing endpoints get little traffic, and one left alone for a second is probed.
	P2C = "tianshu_p2c"
	// RoundRobin is smooth weighted round robin over registry weights.
	RoundRobin = "tianshu_round_robin"
	// Random is weighted random, O(1) per pick.
	Random = "tianshu_random"
	// LeastActive sends each call to the endpoint with the fewest calls in flight (Dubbo's
	// leastactive), ties broken by weight. It scans every endpoint on each pick.
	LeastActive = "tianshu_least_active"
	// ConsistentHash sends calls with the same hash key to the same endpoint; see
	// WithHashKey and HashKeyHeader.
	ConsistentHash = "tianshu_consistent_hash"
	// Default is the balancer Tianshu uses when none is chosen.
	Default = P2C
)

// Names lists every balancer name this package registers.
func Names() []string { return []string{P2C, RoundRobin, Random, LeastActive, ConsistentHash} }

var algorithms = map[string]pick.Algorithm{
	P2C:            pick.AlgP2C,
	RoundRobin:     pick.AlgRoundRobin,
	Random:         pick.AlgRandom,
	LeastActive:    pick.AlgLeastActive,
	ConsistentHash: pick.AlgConsistentHash,
}

// Metadata keys a call can carry (with metadata.AppendToOutgoingContext) instead of the
// context values of WithTag and WithHashKey.
const (
	// TagHeader asks for instances with this tag: "x-tianshu-tag: canary".
	TagHeader = "x-tianshu-tag"
	// HashKeyHeader carries the consistent-hash key unless Config.HashHeader names another.
	HashKeyHeader = "x-tianshu-hash-key"
	// DefaultTagKey is the instance metadata key holding an instance's tag.
	DefaultTagKey = "tag"
)

// ErrInvalidConfig is wrapped by every error about a balancer's JSON config.
var ErrInvalidConfig = errors.New("loadbalance: invalid config")

// Config is the JSON config every Tianshu balancer takes in the service config, as in
// {"loadBalancingConfig":[{"tianshu_p2c":{"zone":"eu-1","version":"2.1"}}]}. Every field is
// optional; durations are written as Go durations ("1.5s"). Unknown fields are an error,
// so a typo does not pass silently.
type Config struct {
	serviceconfig.LoadBalancingConfig `json:"-"`

	// Version admits only instances of this version; with none, calls fail Unavailable.
	Version string `json:"version,omitempty"`
	// Zone is the caller's zone: calls stay in it while it has a ready instance.
	Zone string `json:"zone,omitempty"`
	// TagKey is the instance metadata key holding its tag (default "tag").
	TagKey string `json:"tagKey,omitempty"`
	// HashHeader is the metadata key carrying the consistent-hash key (default
	// x-tianshu-hash-key).
	HashHeader string `json:"hashHeader,omitempty"`
	// VirtualNodes per instance of mean weight on the consistent-hash ring (default 100).
	VirtualNodes int `json:"virtualNodes,omitempty"`
	// ProbeAfter is how long P2C leaves an endpoint unpicked before probing it (default 1s).
	ProbeAfter Duration `json:"probeAfter,omitempty"`
	// Decay is the time constant of P2C's latency average (default 1s).
	Decay Duration `json:"decay,omitempty"`
	// EjectAfter consecutive transport failures (Unavailable) eject an endpoint (default 2)
	// for EjectBase (default 1s), doubling per ejection in a row up to EjectMax (default
	// 30s); then one call probes it.
	EjectAfter int      `json:"ejectAfter,omitempty"`
	EjectBase  Duration `json:"ejectBase,omitempty"`
	EjectMax   Duration `json:"ejectMax,omitempty"`
}

// Duration is a time.Duration written in JSON as a Go duration string ("1.5s"); zero is
// left out. Reading one refuses anything but a positive duration (or "", which is zero).
type Duration time.Duration

// MarshalJSON writes d as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a Go duration string. Its error is a json.UnmarshalTypeError so that
// the decoder adds the field's name, which ParseConfig puts in its own message.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		if s == "" {
			*d = 0
			return nil
		}
		if v, err := time.ParseDuration(s); err == nil && v > 0 {
			*d = Duration(v)
			return nil
		}
	}
	return &json.UnmarshalTypeError{Value: string(clip(b)), Type: reflect.TypeFor[Duration]()}
}

// ParseConfig reads a balancer's JSON config. Errors wrap ErrInvalidConfig and name the
// field at fault.
func ParseConfig(js []byte) (*Config, error) {
	c := &Config{}
	if len(bytes.TrimSpace(js)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(js))
		dec.DisallowUnknownFields()
		if err := dec.Decode(c); err != nil {
			if te := (*json.UnmarshalTypeError)(nil); errors.As(err, &te) && te.Type == reflect.TypeFor[Duration]() {
				return nil, fmt.Errorf("%w: %s: %s is not a positive duration such as \"1s\"", ErrInvalidConfig, te.Field, te.Value)
			}
			return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
		// Decode stops after the first value; anything after it is a mistake, not a comment.
		if off := dec.InputOffset(); len(bytes.TrimSpace(js[off:])) > 0 {
			return nil, fmt.Errorf("%w: unexpected %q after the config object", ErrInvalidConfig, clip(bytes.TrimSpace(js[off:])))
		}
	}
	switch {
	case c.VirtualNodes < 0 || c.VirtualNodes > 10000:
		return nil, fmt.Errorf("%w: virtualNodes: %d is outside 0-10000", ErrInvalidConfig, c.VirtualNodes)
	case c.EjectAfter < 0:
		return nil, fmt.Errorf("%w: ejectAfter: %d is negative", ErrInvalidConfig, c.EjectAfter)
	case c.EjectMax != 0 && c.EjectBase != 0 && c.EjectMax < c.EjectBase:
		return nil, fmt.Errorf("%w: ejectMax %v is shorter than ejectBase %v", ErrInvalidConfig,
			time.Duration(c.EjectMax), time.Duration(c.EjectBase))
	}
	if c.TagKey == "" {
		c.TagKey = DefaultTagKey
	}
	if c.HashHeader == "" {
		c.HashHeader = HashKeyHeader
	}
	return c, nil
}

// clip shortens text quoted in an error message.
func clip(b []byte) []byte {
	if len(b) > 40 {
		return append(b[:37:37], "..."...)
	}
	return b
}

// ServiceConfig returns the service config JSON selecting the balancer name with this
// config, for grpc.WithDefaultServiceConfig.
func (c Config) ServiceConfig(name string) string {
	b, _ := json.Marshal(c) // strings and ints only: cannot fail
	n, _ := json.Marshal(name)
	return `{"loadBalancingConfig":[{` + string(n) + `:` + string(b) + `}]}`
}

// ServiceConfig returns the service config JSON selecting the balancer name with its
// defaults, for grpc.WithDefaultServiceConfig:
//
//	grpc.NewClient(target,
//		grpc.WithDefaultServiceConfig(loadbalance.ServiceConfig(loadbalance.P2C)))
func ServiceConfig(name string) string { return Config{}.ServiceConfig(name) }

// options turns the config into the options of package pick.
func (c *Config) options() []pick.Option {
	return []pick.Option{
		pick.WithVirtualNodes(c.VirtualNodes),
		pick.WithProbeAfter(time.Duration(c.ProbeAfter)),
		pick.WithDecay(time.Duration(c.Decay)),
		pick.WithEjection(c.EjectAfter, time.Duration(c.EjectBase), time.Duration(c.EjectMax)),
	}
}

// statsEqual reports whether two configs give Stats the same tuning.
func (c *Config) statsEqual(o *Config) bool {
	return o != nil && c.Decay == o.Decay && c.EjectAfter == o.EjectAfter &&
		c.EjectBase == o.EjectBase && c.EjectMax == o.EjectMax
}
