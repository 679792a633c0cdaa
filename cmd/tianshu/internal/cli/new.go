package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tianshu-go/tianshu/cmd/tianshu/internal/gen"
	"github.com/tianshu-go/tianshu/cmd/tianshu/internal/protoc"
	"github.com/tianshu-go/tianshu/registry"
)

func (c *CLI) cmdNew(ctx context.Context, args []string) error {
	fs := c.newFlags("new")
	module := fs.String("module", "", "Go module path (default: the service name)")
	reg := fs.String("registry", "file", "registry backend the service uses: "+strings.Join(gen.Registries, ", "))
	dir := fs.String("dir", "", "directory to write into; it must not exist or be empty (default: ./<name>)")
	replace := fs.String("replace", "", "use this Tianshu checkout through a replace directive (for Tianshu's own development)")
	version := fs.String("tianshu-version", "", "Tianshu version to require (default: this binary's)")
	noTidy := fs.Bool("no-tidy", false, "skip `go mod tidy` (and, with --replace, `go mod vendor`) after writing (the project then needs them before it builds)")
	plugin := fs.String("grpc-plugin", "", "command run as the gRPC plugin (default: go run google.golang.org/grpc/cmd/protoc-gen-go-grpc@"+protoc.GRPCPluginVersion+")")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("new", pos, "<name>"); err != nil {
		return err
	}
	o := gen.Options{Name: pos[0], Module: *module, Registry: *reg, TianshuVersion: *version}
	if err := o.Validate(); err != nil {
		return err
	}
	if !slices.Contains(registry.Schemes(), o.Registry) {
		return fmt.Errorf("this tianshu binary has no %s registry backend (it has: %s); upgrade tianshu or pick one of those",
			o.Registry, strings.Join(registry.Schemes(), ", "))
	}
	if *replace != "" {
		abs, err := filepath.Abs(*replace)
		if err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(abs, "go.mod")); err != nil {
			return fmt.Errorf("--replace %s: not a Tianshu checkout (no go.mod): %w", *replace, err)
		}
		o.Replace = abs
	}
	if o.TianshuVersion == "" && o.Replace == "" {
		v := Version()
		if !strings.HasPrefix(v, "v") {
			return errors.New("this tianshu binary was built from a checkout and knows no Tianshu release to require: " +
				"pass --replace /path/to/the/checkout or --tianshu-version vX.Y.Z")
		}
		o.TianshuVersion = v
	}
	if *dir == "" {
		*dir = o.Name
	}
	files, err := gen.New(ctx, *dir, o, stubFunc(*plugin))
	if err != nil {
		return err
	}
	fmt.Fprintf(c.Stdout, "wrote %d files and the gRPC stubs of %s to %s\n", len(files), gen.ProtoPath(o), *dir)
	if !*noTidy {
		if err := gen.Tidy(ctx, *dir, o); err != nil {
			return err
		}
	}
	fmt.Fprintf(c.Stdout, "next:\n  cd %s\n  make test   # or: go test ./...\n  make run    # serve; then `make client` in another terminal\n", *dir)
	return nil
}

// stubFunc generates stubs with the given plugin command (split on spaces), or the default.
func stubFunc(plugin string) gen.StubFunc {
	return func(ctx context.Context, root string, files []string) error {
		_, err := protoc.Generate(ctx, root, files, protoc.WithGRPCPlugin(strings.Fields(plugin)...))
		return err
	}
}

func (c *CLI) cmdGen(ctx context.Context, args []string) error {
	fs := c.newFlags("gen")
	dir := fs.String("dir", ".", "project root: the import path of the .proto files, where the stubs are written beside them")
	plugin := fs.String("grpc-plugin", "", "command run as the gRPC plugin (default: go run google.golang.org/grpc/cmd/protoc-gen-go-grpc@"+protoc.GRPCPluginVersion+")")
	files, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		if files, err = protoc.Find(*dir); err != nil {
			return err
		}
	}
	for i, f := range files {
		files[i] = filepath.ToSlash(filepath.Clean(f))
	}
	res, err := gen.Regenerate(ctx, *dir, files, func(ctx context.Context, root string, protos []string) (map[string][]byte, error) {
		return protoc.Render(ctx, root, protos, protoc.WithGRPCPlugin(strings.Fields(*plugin)...))
	})
	if res != nil {
		for _, w := range res.Written {
			fmt.Fprintln(c.Stdout, filepath.Join(*dir, w))
		}
		for _, r := range res.Removed {
			fmt.Fprintf(c.Stdout, "removed %s: its .proto no longer generates it\n", filepath.Join(*dir, r))
		}
		for _, a := range res.Added {
			fmt.Fprintf(c.Stdout, "%s: added %s.%s for the new rpc %s; it answers Unimplemented until you write it\n",
				filepath.Join(*dir, a.File), a.Type, a.Method, a.RPC)
		}
	}
	return err
}
