//go:build misuse_sleepwindow

package misuse

import (
	"time"

	"github.com/tianshu-go/tianshu/breaker"
)

func wrong() { _, _ = breaker.NewAdaptive("a", breaker.WithSleepWindow(time.Second)) }
