package cli_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tianshu-go/tianshu/cmd/tianshu/internal/cli"
)

func ExampleCLI_Main() {
	dir, _ := os.MkdirTemp("", "tianshu-example-")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "app.yaml")
	_ = os.WriteFile(path, []byte("server:\n  addr: \":9000\"\n"), 0o644)

	c := &cli.CLI{Stdout: os.Stdout, Stderr: os.Stdout}
	c.Main(context.Background(), []string{"config", "set", "server.addr", ":9100", "--source", path})
	code := c.Main(context.Background(), []string{"config", "get", "server", "--json", "--source", path})
	fmt.Println("exit status", code)
	// Output:
	// {"addr":":9100"}
	// exit status 0
}
