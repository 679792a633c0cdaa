// Command tianshu writes Tianshu services and inspects running ones.
//
//	go install ./cmd/tianshu    # from a checkout: the module is not published; Go 1.26+
//	tianshu new orders --module example.com/orders --registry etcd --replace "$PWD" --dir ../orders
//	tianshu gen
//	tianshu registry ls orders --registry etcd://127.0.0.1:2379
//	tianshu registry ls --registry etcd://127.0.0.1:2379    # the services
//	tianshu config get db.host --source config.yaml
//	tianshu config set db.pool.size 8 --source config.yaml
//
// Run `tianshu help` for every command, `tianshu help <command>` for its flags.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/tianshu-go/tianshu/cmd/tianshu/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	c := &cli.CLI{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, ConfigSources: configSources()}
	code := c.Main(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
