//go:build misuse_probes

package misuse

import (
	"github.com/tianshu-go/tianshu/breaker"
)

func wrong() { _, _ = breaker.NewAdaptive("a", breaker.WithHalfOpenProbes(1)) }
