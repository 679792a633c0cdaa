package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/tianshu-go/tianshu/config"
)

// ErrUsage marks an error in the command line itself; Main prints the usage with it and
// exits with status 2.
var ErrUsage = errors.New("usage")

// ConfigOpener opens a config.Source named by a URL such as etcd://host:2379/app/orders.yaml.
// The returned closer, if not nil, releases the source's connection.
type ConfigOpener func(ctx context.Context, rawURL string) (config.Source, io.Closer, error)

// CLI is the tianshu command. The zero value works, with the file config source only.
type CLI struct {
	Stdout, Stderr io.Writer
	// ConfigSources open remote config sources by URL scheme; "file" and plain paths are built in.
	ConfigSources map[string]ConfigOpener
	// Getenv reads the environment (TIANSHU_REGISTRY); nil means no environment.
	Getenv func(string) string
}

const usage = `tianshu: the Tianshu command line

  tianshu new <name> [--module path] [--registry file|zookeeper|etcd|nacos] [--dir D]
      write a runnable service skeleton into D (default ./<name>)
  tianshu gen [--dir D] [file.proto ...]
      regenerate the Go and gRPC stubs of the .proto files under D (default .)
  tianshu registry ls <service> [--registry URL] [--json]
  tianshu registry watch <service> [--registry URL] [--json]
      list or follow a service's instances (URL default: $TIANSHU_REGISTRY, else file://)
  tianshu config get <key> --source S [--json]
  tianshu config set <key> <value> --source S
  tianshu config watch <key> --source S [--json]
      read, change or follow a config key; S is a file path or a backend URL
  tianshu version

Run 'tianshu <command> -h' for a command's flags.
`

// Main runs the command line args (without the program name) and returns the exit status.
func (c *CLI) Main(ctx context.Context, args []string) int {
	err := c.run(ctx, args)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, ErrUsage):
		fmt.Fprintf(c.Stderr, "tianshu: %v\n\n%s", err, usage)
		return 2
	default:
		fmt.Fprintf(c.Stderr, "tianshu: %v\n", err)
		return 1
	}
}

func (c *CLI) run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: no command", ErrUsage)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "new":
		return c.cmdNew(ctx, rest)
	case "gen":
		return c.cmdGen(ctx, rest)
	case "registry":
		return c.cmdRegistry(ctx, rest)
	case "config":
		return c.cmdConfig(ctx, rest)
	case "version":
		fmt.Fprintln(c.Stdout, "tianshu", Version())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(c.Stdout, usage)
		return nil
	}
	return fmt.Errorf("%w: unknown command %q", ErrUsage, cmd)
}

// Version is the module version this binary was built from, or "(devel)".
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// newFlags returns a flag set that reports to the CLI's stderr and does not exit.
func (c *CLI) newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("tianshu "+name, flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	return fs
}

// parse lets flags come before, between and after the positional arguments, as people
// type them (tianshu new orders --registry etcd), which flag.Parse alone does not.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", ErrUsage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// wantArgs checks the number of positional arguments.
func wantArgs(cmd string, got []string, names ...string) error {
	if len(got) != len(names) {
		return fmt.Errorf("%w: %s takes %s, got %d argument(s): %s", ErrUsage, cmd,
			strings.Join(names, " "), len(got), strings.Join(got, " "))
	}
	return nil
}

func (c *CLI) getenv(k string) string {
	if c.Getenv == nil {
		return ""
	}
	return c.Getenv(k)
}

func (c *CLI) configSchemes() []string {
	s := []string{"file"}
	for k := range c.ConfigSources {
		s = append(s, k)
	}
	slices.Sort(s)
	return s
}
