package tracing_test

import (
	"context"
	"fmt"

	"google.golang.org/grpc"

	"github.com/tianshu-go/tianshu/telemetry"
	"github.com/tianshu-go/tianshu/tracing"
)

func ExampleSetup() {
	ctx := context.Background()
	shutdown, err := tracing.Setup(ctx,
		tracing.WithServiceName("orders"), tracing.WithServiceVersion("1.4.0"),
		tracing.WithOTLP(tracing.ProtocolGRPC, "http://127.0.0.1:4317"),
		tracing.WithSampleRatio(0.01))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shutdown(ctx)
	// Handlers made now or before use the global provider and propagator.
	srv := grpc.NewServer(telemetry.ServerOption())
	defer srv.Stop()
}

func ExampleSetup_badRatio() {
	_, err := tracing.Setup(context.Background(), tracing.WithSampleRatio(5))
	fmt.Println(err)
	// Output: tracing: invalid configuration: sample ratio 5 is outside [0, 1]
}
