package testenv_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/tianshu-go/tianshu/internal/testenv"
)

// A test that pauses a server goes on at once, as if the server could no longer answer;
// on a loaded machine kill returns while some of the server's threads still run. Processes
// spinning on every core, stopped when the test ends, provide the load; the test is bounded
// by its 20 pauses (without the wait, 10 to 14 of them were answered).
func TestAPausedServerAnswersNothing(t *testing.T) {
	srv := testenv.StartEtcd(t)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{srv.Endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	for range runtime.NumCPU() + 1 {
		testenv.StartProcess(t, "spin", t.TempDir(), nil, "sh", "-c", "while :; do :; done")
	}

	answered := 0
	for range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := cli.Put(ctx, "k", "v")
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		srv.Pause()
		ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
		if _, err := cli.Get(ctx, "k"); err == nil {
			answered++
		}
		cancel()
		srv.Resume()
	}
	if answered != 0 {
		t.Errorf("the server answered %d of 20 requests sent after Pause returned, want 0", answered)
	}
}
