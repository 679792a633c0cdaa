//go:build misuse_adaptivefactory

package misuse

import (
	"github.com/tianshu-go/tianshu/breaker"
)

func wrong() { _ = breaker.AdaptiveFactory(breaker.WithFailureRatio(.5)) }
