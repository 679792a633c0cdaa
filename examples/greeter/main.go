// Command greeter is Tianshu's first demo: two provider processes and a consumer find each
// other through the embedded file registry, with no server to install.
//
//	go run ./examples/greeter
//
// The consumer calls the Greeter service a few times a second and prints which provider
// answered. Midway it kills one provider with SIGKILL, as a crash would, and the calls go
// on against the other; then everything stops. Flags run one part alone:
//
//	go run ./examples/greeter -role provider -id p1 -registry /tmp/reg
//	go run ./examples/greeter -role consumer -registry /tmp/reg
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	role := flag.String("role", "demo", "demo (providers + consumer), provider, or consumer")
	id := flag.String("id", "", "the provider's instance ID (role provider)")
	dir := flag.String("registry", "", "the file registry's directory (default: a new temporary directory for the demo, the user's cache directory otherwise)")
	calls := flag.Int("calls", 24, "calls the consumer makes (role demo); 0 means until interrupted (role consumer)")
	interval := flag.Duration("interval", 250*time.Millisecond, "pause between calls")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch *role {
	case "demo":
		err = runDemo(ctx, os.Stdout, demoConfig{dir: *dir, calls: *calls, interval: *interval})
	case "provider":
		err = runProvider(ctx, *dir, *id, logger(os.Stderr))
	case "consumer":
		err = runConsumer(ctx, os.Stdout, *dir, *calls, *interval, nil)
	default:
		err = fmt.Errorf("unknown -role %q: want demo, provider or consumer", *role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "greeter:", err)
		os.Exit(1)
	}
}

// logger keeps the demo's output readable: warnings and errors only, without timestamps.
func logger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: slog.LevelWarn,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		},
	}))
}
