package main

import (
	"context"
	"testing"

	"github.com/tianshu-go/tianshu/internal/testpb"
)

// BenchmarkCall makes b.N echo calls (1 KiB, 8 x GOMAXPROCS goroutines) through each
// set-up, for the figures that do not move with the machine's load: allocations per call
// (-benchmem) and, under callgrind, instructions per call, the difference between the
// instructions of two run lengths divided by the difference of their calls:
//
//	go test -c -o bench.test ./cmd/tianshu-bench
//	GOMAXPROCS=1 GOGC=off GODEBUG=asyncpreemptoff=1 valgrind --tool=callgrind \
//	    --callgrind-out-file=/dev/null ./bench.test -test.run '^$' \
//	    -test.bench 'BenchmarkCall/full$' -test.benchtime=6000x    # and 2000x
//
// (asyncpreemptoff: callgrind stops at the runtime's preemption signals.)
func BenchmarkCall(b *testing.B) {
	for _, name := range allSetupNames() {
		b.Run(name, func(b *testing.B) {
			st, err := setupByName[name](context.Background())
			if err != nil {
				b.Fatal(err)
			}
			defer st.close()
			req := &testpb.EchoRequest{Payload: make([]byte, 1024)}
			b.ReportAllocs()
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := st.client.Echo(context.Background(), req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
