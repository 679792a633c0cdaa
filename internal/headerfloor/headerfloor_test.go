package headerfloor

import (
	"context"
	"regexp"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var wellFormed = regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-00$`)

// The client interceptor sends a well-formed traceparent, new per call for Unique and the
// same for Constant, and the server interceptor passes the call on.
func TestSendsWellFormedHeadersThatChangeOnlyWhenUnique(t *testing.T) {
	for _, c := range []struct {
		name  string
		value func() string
		same  bool
	}{{"constant", constant, true}, {"unique", unique, false}} {
		t.Run(c.name, func(t *testing.T) {
			var sent []string
			capture := func(ctx context.Context, _ string, _, _ any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
				md, _ := metadata.FromOutgoingContext(ctx)
				sent = append(sent, md.Get("traceparent")...)
				return nil
			}
			send := sender(c.value)
			for range 2 {
				if err := send(context.Background(), "/s/m", nil, nil, nil, capture); err != nil {
					t.Fatal(err)
				}
			}
			if len(sent) != 2 || !wellFormed.MatchString(sent[0]) || !wellFormed.MatchString(sent[1]) {
				t.Fatalf("sent %q, want two well-formed traceparents", sent)
			}
			if (sent[0] == sent[1]) != c.same {
				t.Errorf("sent %q; same value twice = %v, want %v", sent, sent[0] == sent[1], c.same)
			}
		})
	}
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("traceparent", constant()))
	got, err := read(ctx, "req", &grpc.UnaryServerInfo{}, func(_ context.Context, req any) (any, error) { return req, nil })
	if err != nil || got != "req" {
		t.Errorf("read = %v, %v; want the handler's answer", got, err)
	}
}
