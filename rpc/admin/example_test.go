package admin_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"sync/atomic"

	"github.com/tianshu-go/tianshu/rpc/admin"
)

func ExampleNew() {
	var registered atomic.Bool
	adm := admin.New("127.0.0.1:0", admin.WithReadiness("registry", func(context.Context) error {
		if !registered.Load() {
			return errors.New("not registered yet")
		}
		return nil
	}))
	probe := func() {
		rec := httptest.NewRecorder()
		adm.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		body, _ := io.ReadAll(rec.Body)
		fmt.Printf("%d %s", rec.Code, body)
	}
	probe()
	registered.Store(true)
	probe()
	// Output:
	// 503 not ready: registry: not registered yet
	// 200 ok
}
