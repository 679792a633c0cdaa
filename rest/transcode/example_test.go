package transcode_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/tianshu-go/tianshu/registry/memory"
	"github.com/tianshu-go/tianshu/rest/transcode"
	"github.com/tianshu-go/tianshu/rest/transcode/internal/testpb"
	"github.com/tianshu-go/tianshu/rpc"
)

// shelf is a small implementation of the test bookstore.
type shelf struct {
	testpb.UnimplementedBookstoreServer
}

func (shelf) GetBook(_ context.Context, r *testpb.GetBookRequest) (*testpb.Book, error) {
	return &testpb.Book{Name: r.GetName(), Title: "The Dispossessed", Pages: 387}, nil
}

// Serve a gRPC service as REST/JSON in process: GET /v1/{name=shelves/*/books/*} calls
// GetBook with the name taken from the path.
func Example() {
	h, err := transcode.New(transcode.Local(&testpb.Bookstore_ServiceDesc, shelf{}))
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	for _, path := range []string{"/v1/shelves/s1/books/b1", "/v1/nowhere"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		// protojson varies its spacing on purpose; compact it to print a stable line.
		var out bytes.Buffer
		_ = json.Compact(&out, body)
		fmt.Println(resp.StatusCode, out.String())
	}
	// Output:
	// 200 {"name":"shelves/s1/books/b1","title":"The Dispossessed","pages":"387"}
	// 404 {"code":"NOT_FOUND","message":"no route for GET /v1/nowhere","details":[]}
}

// Proxy to a service found in the registry, as a gateway does: the connection is a plain
// tianshu:///<service> one, balanced over the instances the registry lists.
func ExampleRemote() {
	ctx := context.Background()
	reg := memory.New() // registry.Open(ctx, "etcd://...") and the like in a deployment
	defer reg.Close()

	quiet := slog.New(slog.DiscardHandler)
	srv := rpc.NewServer(rpc.WithService("bookstore"), rpc.WithRegistrar(reg), rpc.WithServerLogger(quiet),
		rpc.WithDeregisterDelay(time.Millisecond))
	testpb.RegisterBookstoreServer(srv, shelf{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	go func() { _ = srv.Serve(lis) }()
	defer func() { _ = srv.Shutdown(ctx) }()

	// The server registers in the background once it serves: wait until the registry lists
	// it, or the first request may find no instance yet (503 UNAVAILABLE).
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := rpc.Dial(dctx, "tianshu:///bookstore", rpc.WithDiscovery(reg), rpc.WithDialLogger(quiet),
		rpc.WithWaitReady())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = conn.Close() }()
	h, err := transcode.New(transcode.Remote(conn, "tianshu.transcode.test.Bookstore"))
	if err != nil {
		fmt.Println(err)
		return
	}

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/shelves/s1/books/b2", nil))
	var out bytes.Buffer
	_ = json.Compact(&out, rec.Body.Bytes())
	fmt.Println(rec.Code, out.String())
	// Output:
	// 200 {"name":"shelves/s1/books/b2","title":"The Dispossessed","pages":"387"}
}

// Routes lists what a Handler serves, for a log line at start-up.
func ExampleHandler_Routes() {
	h, err := transcode.New(transcode.Local(&testpb.Bookstore_ServiceDesc, shelf{}))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range h.Routes() {
		fmt.Println(r)
	}
	// Output:
	// DELETE /v1/{name=shelves/*/books/*} -> /tianshu.transcode.test.Bookstore/DeleteBook
	// GET /v1/shelves/{shelf}/files/{path=**} -> /tianshu.transcode.test.Bookstore/GetFile
	// GET /v1/{name=shelves/*/books/*} -> /tianshu.transcode.test.Bookstore/GetBook
	// GET /v1/{name=shelves/*/books/*}:author -> /tianshu.transcode.test.Bookstore/GetBookAuthor
	// GET /v1/{name=shelves/*/books/*}:title -> /tianshu.transcode.test.Bookstore/GetBookTitle
	// GET /v1/{parent=shelves/*}/books -> /tianshu.transcode.test.Bookstore/ListBooks
	// GET /v1/{parent=shelves/*}/books:stream -> /tianshu.transcode.test.Bookstore/StreamBooks
	// PATCH /v1/{book.name=shelves/*/books/*} -> /tianshu.transcode.test.Bookstore/UpdateBook
	// POST /v1/{name=shelves/*/books/*}:tag -> /tianshu.transcode.test.Bookstore/TagBook
	// POST /v1/{parent=shelves/*}/books -> /tianshu.transcode.test.Bookstore/CreateBook
	// PUT /v1/{book.name=shelves/*/books/*} -> /tianshu.transcode.test.Bookstore/UpdateBook
	// SEARCH /v1/{parent=shelves/*}/books -> /tianshu.transcode.test.Bookstore/SearchBooks
}
