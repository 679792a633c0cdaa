//go:build misuse_onstatechange

package misuse

import (
	"github.com/tianshu-go/tianshu/breaker"
)

func wrong() { _, _ = breaker.NewAdaptive("a", breaker.WithOnStateChange(nil)) }
