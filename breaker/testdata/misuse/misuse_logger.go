//go:build misuse_logger

package misuse

import (
	"github.com/tianshu-go/tianshu/breaker"
)

func wrong() { _, _ = breaker.NewAdaptive("a", breaker.WithLogger(nil)) }
