package nacos

import (
	"runtime"
	"time"

	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/internal/hold"
)

// reconnectHold is how long after the SDK subscribes again on a new connection a
// subscription keeps the instances it no longer finds. When the connection was lost because
// the server went away (a restart), the server forgot every ephemeral instance with their
// connections. The SDK subscribes again as soon as it is connected, while each provider
// registers again only once its own SDK has reconnected, which the SDK's backoff (growing by
// 100 ms a round to 5 s) may put off by up to 5 s, and the server pushes the change on its
// next tick (0.5 s for rnacos).
const reconnectHold = 8 * time.Second

// sdkRedoSubscribe is the nacos-sdk-go v2.3.2 function that subscribes again after a
// reconnection and runs the callbacks with the list the server answers, on its own
// goroutine. The SDK offers no other sign of a reconnection: its connection listeners belong
// to an unexported RPC client, and ServerHealthy falls back to an HTTP probe that answers
// before the gRPC connection is back.
const sdkRedoSubscribe = "github.com/nacos-group/nacos-sdk-go/v2/clients/naming_client/naming_grpc.(*ConnectionEventListener).redoSubscribe"

// calledOnReconnect reports whether the SDK runs the calling callback from its
// re-subscription after a reconnection.
func calledOnReconnect() bool {
	var pcs [48]uintptr
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs[:])])
	for {
		f, more := frames.Next()
		if f.Function == sdkRedoSubscribe {
			return true
		}
		if !more {
			return false
		}
	}
}

// holdLocked starts or extends the hold after a reconnection. The caller holds s.mu.
func (s *subscription) holdLocked() {
	s.holdUntil = time.Now().Add(reconnectHold)
	if s.release != nil {
		s.release.Stop()
	}
	s.release = time.AfterFunc(reconnectHold, s.endHold)
}

// endHold publishes the list as the SDK last gave it, dropping the instances kept since
// the reconnection that did not come back.
func (s *subscription) endHold() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.holdUntil.IsZero() || time.Now().Before(s.holdUntil) {
		return // extended meanwhile: a later timer ends it
	}
	s.holdUntil = time.Time{}
	if s.kept > 0 {
		s.n.log.Info("nacos: end of the hold after a reconnection", "service", s.service, "dropped", s.kept)
	}
	s.setLocked(s.hosts)
}

// keepMissingLocked returns list with the instances last published that it lacks while a
// hold lasts. The caller holds s.mu.
func (s *subscription) keepMissingLocked(list []*registry.Instance) []*registry.Instance {
	if s.holdUntil.IsZero() || !time.Now().Before(s.holdUntil) {
		s.kept = 0
		return list
	}
	kept, n := hold.WithMissing(s.bc.Get(), list)
	if n > 0 && s.kept == 0 {
		s.n.log.Info("nacos: reconnected; keeping instances missing from the list while their providers register again",
			"service", s.service, "kept", n, "for", reconnectHold)
	}
	s.kept = n
	return kept
}
