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

const newSynopsis = `usage: tianshu new <name> [flags]

Writes a runnable service skeleton into --dir (default ./<name>): the .proto and its stubs,
server, main wired with config.yaml, tests, a client, a Makefile, a Dockerfile, compose.yaml
and Kubernetes manifests; then runs go mod tidy there. The target directory must not exist
or be empty.
`

func (c *CLI) cmdNew(ctx context.Context, args []string) error {
	fs := c.newFlags("new")
	h := cmdHelp{synopsis: newSynopsis, fs: fs}
	module := fs.String("module", "", "Go module path (default: the service name)")
	reg := fs.String("registry", "file", "registry backend the service uses: "+strings.Join(gen.Registries, ", "))
	dir := fs.String("dir", "", "directory to write into; it must not exist or be empty (default: ./<name>)")
	replace := fs.String("replace", "", "use this Tianshu checkout through a replace directive (for Tianshu's own development)")
	version := fs.String("tianshu-version", "", "Tianshu version to require (default: this binary's)")
	noTidy := fs.Bool("no-tidy", false, "skip go mod tidy (in the project and in its tools/ module; with --replace, go mod vendor too) after writing (the project then needs them before it builds)")
	plugin := fs.String("grpc-plugin", "", "command run as the gRPC plugin (default: go run google.golang.org/grpc/cmd/protoc-gen-go-grpc@"+protoc.GRPCPluginVersion+")")
	pos, err := c.parse(h, args)
	if err != nil {
		return err
	}
	if err := wantArgs(h, "new", pos, "<name>"); err != nil {
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

const genSynopsis = `usage: tianshu gen [flags] [file.proto ...]

Regenerates the Go and gRPC stubs of the named .proto files, or of all under --dir, writing
each beside its .proto. --dir is the project root, the directory of go.mod: .proto files
import each other by their paths from there. No protoc is needed.
`

func (c *CLI) cmdGen(ctx context.Context, args []string) error {
	fs := c.newFlags("gen")
	h := cmdHelp{synopsis: genSynopsis, fs: fs}
	dir := fs.String("dir", ".", "project root: the import path of the .proto files, where the stubs are written beside them")
	plugin := fs.String("grpc-plugin", "", "command run as the gRPC plugin (default: go run google.golang.org/grpc/cmd/protoc-gen-go-grpc@"+protoc.GRPCPluginVersion+")")
	files, err := c.parse(h, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		if files, err = protoc.Find(*dir); err != nil {
			return rootHint(*dir, err)
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
	if err != nil {
		return rootHint(*dir, err)
	}
	return nil
}

// rootHint adds to an error of gen run below the project root where the root is: there
// it finds no .proto files, or .proto files that import others by their paths from the root.
func rootHint(dir string, err error) error {
	if !errors.Is(err, protoc.ErrNoProto) && !errors.Is(err, protoc.ErrCompile) {
		return err
	}
	abs, aerr := filepath.Abs(dir)
	if aerr != nil {
		return err
	}
	if _, serr := os.Stat(filepath.Join(abs, "go.mod")); serr == nil {
		return err
	}
	for d := filepath.Dir(abs); ; d = filepath.Dir(d) {
		if _, serr := os.Stat(filepath.Join(d, "go.mod")); serr == nil {
			return fmt.Errorf("%w\n(%s is not the project root: tianshu gen finds .proto files, and they import each other, by their paths from the root, %s, where go.mod is: run it there or pass --dir %s)",
				err, dir, d, d)
		}
		if filepath.Dir(d) == d {
			return err
		}
	}
}
