//go:build misuse_circuitfactory

package misuse

import (
	"github.com/tianshu-go/tianshu/breaker"
)

func wrong() { _ = breaker.CircuitFactory(breaker.WithK(2)) }
