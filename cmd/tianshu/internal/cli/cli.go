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
	// ConfigSources open remote config sources by URL scheme; "file" and plain paths are built
	// in.
	ConfigSources map[string]ConfigOpener
	// Getenv reads the environment (TIANSHU_REGISTRY); nil means no environment.
	Getenv func(string) string
}

const usage = `tianshu: the Tianshu command line

  tianshu new <name> [--module path] [--registry file|zookeeper|etcd|nacos] [--dir D]
              [--tianshu-version vX.Y.Z | --replace /path/to/tianshu] [--no-tidy] [--grpc-plugin CMD]
      write a runnable service skeleton into D (default ./<name>) and run go mod tidy there
  tianshu gen [--dir D] [--grpc-plugin CMD] [file.proto ...]
      regenerate the Go and gRPC stubs of the .proto files under D (default .: the project root)
  tianshu registry ls [<service>] [--registry URL] [--json] [--timeout T]
  tianshu registry watch <service> [--registry URL] [--json] [--timeout T]
      list the services, or list or follow a service's instances
      (URL default: $TIANSHU_REGISTRY, else file://)
  tianshu config get <key> --source S [--json] [--timeout T]
  tianshu config set <key> <value> --source S [--force] [--timeout T]
  tianshu config watch <key> --source S [--json] [--timeout T]
      read, change or follow a config key; S is a file path or a backend URL; set parses
      the value as YAML (3 is a number, '"3"' a string) and needs --force to replace a
      section or add a top-level key
  tianshu rules validate <file>
  tianshu rules get --source S [--json] [--timeout T]
  tianshu rules set <file> --source S [--force] [--timeout T]
  tianshu rules watch --source S [--json] [--timeout T]
      check a governance rules document offline, or read, replace (after validating it)
      or follow the rules in a config source (see docs/rules.md)
  tianshu version, tianshu --version

Run 'tianshu help <command>' or 'tianshu <command> -h' for a command's flags.
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
		help := usage
		var ue *usageError
		if errors.As(err, &ue) {
			help = ue.help
		}
		fmt.Fprintf(c.Stderr, "tianshu: %v\n\n%s", err, help)
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
	case "rules":
		return c.cmdRules(ctx, rest)
	case "version":
		h := cmdHelp{synopsis: "usage: tianshu version\n\nPrints the Tianshu version this binary was built from.\n", fs: c.newFlags("version")}
		pos, err := c.parse(h, rest)
		if err != nil {
			return err
		}
		if len(pos) > 0 {
			return h.errorf("version takes no arguments, got %s", strings.Join(pos, " "))
		}
		fallthrough
	case "--version", "-version":
		fmt.Fprintln(c.Stdout, "tianshu", Version())
		return nil
	case "help", "-h", "--help", "-help":
		if cmd == "help" && len(rest) > 0 {
			if !slices.Contains([]string{"new", "gen", "registry", "config", "rules", "version"}, rest[0]) {
				return fmt.Errorf("%w: no help for %q: it is not a command", ErrUsage, rest[0])
			}
			return c.run(ctx, append(slices.Clone(rest), "-h"))
		}
		fmt.Fprint(c.Stdout, usage)
		return nil
	}
	return fmt.Errorf("%w: unknown command %q", ErrUsage, cmd)
}

// usageError is a mistake in a command's arguments, with that command's help to print.
type usageError struct {
	err  error // wraps ErrUsage
	help string
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// cmdHelp is what a command's -h prints: a synopsis, then its flags.
type cmdHelp struct {
	synopsis string
	fs       *flag.FlagSet
}

func (h cmdHelp) String() string {
	var b strings.Builder
	b.WriteString(h.synopsis)
	n := 0
	h.fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		b.WriteString("\nFlags:\n")
		h.fs.SetOutput(&b)
		h.fs.PrintDefaults()
		h.fs.SetOutput(io.Discard)
	}
	b.WriteString("\nRun 'tianshu help' for every command.\n")
	return b.String()
}

// errorf returns a usage error carrying the command's help.
func (h cmdHelp) errorf(format string, a ...any) error {
	return &usageError{err: fmt.Errorf("%w: "+format, append([]any{ErrUsage}, a...)...), help: h.String()}
}

// Version is the module version this binary was built from, or "(devel)".
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// newFlags returns a flag set that prints nothing itself: parse reports its errors and help.
func (c *CLI) newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("tianshu "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parse lets flags come before, between and after the positional arguments, as people
// type them (tianshu new orders --registry etcd), which flag.Parse alone does not. -h prints
// the command's help to stdout and returns flag.ErrHelp.
func (c *CLI) parse(h cmdHelp, args []string) ([]string, error) {
	var pos []string
	for {
		if err := h.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(c.Stdout, h)
				return nil, err
			}
			return nil, h.errorf("%v", err)
		}
		args = h.fs.Args()
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
func wantArgs(h cmdHelp, cmd string, got []string, names ...string) error {
	if len(got) != len(names) {
		return h.errorf("%s takes %s, got %d argument(s): %s", cmd,
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
