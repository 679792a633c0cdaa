//go:build misuse_failureratio

package misuse

import (
	"github.com/tianshu-go/tianshu/breaker"
)

func wrong() { _, _ = breaker.NewAdaptive("a", breaker.WithFailureRatio(.5)) }
