package tracing

import (
	"fmt"
	"strings"

	"github.com/tianshu-go/tianshu/telemetry"
)

// Config is the tracing section of an application's configuration file, for the config
// package to fill:
//
//	tracing:
//	  endpoint: http://127.0.0.1:4317
//	  protocol: grpc
//	  sample_ratio: 0.01
//	  propagate: [jaeger]
//
// Service name, version and instance ID come from the application (WithServiceName and the
// like), not from here.
type Config struct {
	// Endpoint is the OTLP collector URL; empty records spans without exporting them.
	Endpoint string `config:"endpoint"`
	// Protocol is "grpc" (default) or "http".
	Protocol string `config:"protocol" default:"grpc"`
	// SampleRatio is the share of new traces recorded, 0 to 1.
	SampleRatio float64 `config:"sample_ratio" default:"0.01"`
	// Propagate lists the legacy formats always written besides W3C: "b3", "jaeger".
	Propagate []string `config:"propagate"`
}

// Validate checks the fields; the error wraps ErrInvalidConfig.
func (c Config) Validate() error {
	_, err := c.Options()
	return err
}

// Options turns the config into Setup options.
func (c Config) Options() ([]Option, error) {
	var opts []Option
	if c.Endpoint != "" {
		p := Protocol(strings.ToLower(c.Protocol))
		if p == "" {
			p = ProtocolGRPC
		}
		opts = append(opts, WithOTLP(p, c.Endpoint))
	}
	opts = append(opts, WithSampleRatio(c.SampleRatio))
	var formats []telemetry.Format
	for _, f := range c.Propagate {
		switch strings.ToLower(f) {
		case "b3":
			formats = append(formats, telemetry.FormatB3)
		case "jaeger":
			formats = append(formats, telemetry.FormatJaeger)
		default:
			return nil, fmt.Errorf("%w: unknown propagation format %q (want b3 or jaeger)", ErrInvalidConfig, f)
		}
	}
	opts = append(opts, WithPropagator(telemetry.Propagator(formats...)))
	if _, err := newSetupConfig(opts); err != nil {
		return nil, err
	}
	return opts, nil
}
