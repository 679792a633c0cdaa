//go:build misuse_k

package misuse

import (
	"github.com/tianshu-go/tianshu/breaker"
)

func wrong() { _, _ = breaker.NewCircuit("c", breaker.WithK(2)) }
