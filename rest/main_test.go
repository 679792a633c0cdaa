package rest_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// childBackendEnv makes the test binary an HTTP instance instead of running tests: the
// SIGKILL test starts it as a process of its own, to kill it for real.
const childBackendEnv = "TIANSHU_REST_CHILD_BACKEND"

func TestMain(m *testing.M) {
	if os.Getenv(childBackendEnv) == "1" {
		serveChildBackend()
		return
	}
	goleak.VerifyTestMain(m)
}

// serveChildBackend answers every request with "child" on a loopback port, whose address
// it prints first, until the process is killed.
func serveChildBackend() {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(lis.Addr())
	_ = http.Serve(lis, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "child")
	}))
	os.Exit(1)
}
