package gen

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"go/format"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/template"

	"golang.org/x/mod/module"
)

//go:embed all:templates
var templates embed.FS

// Errors New and Options.Validate return, wrapped with what to do about them.
var (
	// ErrInvalidName: the service name cannot serve as a registry, DNS and Kubernetes name.
	ErrInvalidName = errors.New("invalid service name")
	// ErrInvalidModule: the module path is not a valid Go module path.
	ErrInvalidModule = errors.New("invalid module path")
	// ErrUnknownRegistry: the registry is none of Registries.
	ErrUnknownRegistry = errors.New("unknown registry")
	// ErrTargetNotEmpty: the target directory exists and holds files; nothing was written.
	ErrTargetNotEmpty = errors.New("target directory is not empty")
	// ErrStubs: the project was written but its gRPC stubs could not be generated.
	ErrStubs = errors.New("stub generation failed")
)

// Registries are the registry backends a generated service can be wired to.
var Registries = []string{"file", "zookeeper", "etcd", "nacos"}

// UnreleasedVersion is the version required of Tianshu when it is replaced by a local
// checkout: the placeholder Go itself writes for replaced modules.
const UnreleasedVersion = "v0.0.0-00010101000000-000000000000"

// GoVersion is the go directive of generated go.mod files: Tianshu's own.
const GoVersion = "1.26.0"

// Options describe the service to generate.
type Options struct {
	// Name is the service name: lower-case letters, digits and single hyphens, starting
	// with a letter (orders, order-history), at most 40 bytes.
	Name string
	// Module is the Go module path; empty means Name.
	Module string
	// Registry is one of Registries; empty means "file".
	Registry string
	// TianshuVersion is the version of github.com/tianshu-go/tianshu to require; empty
	// means UnreleasedVersion.
	TianshuVersion string
	// Replace, if set, adds a replace directive pointing Tianshu at this directory (a
	// local checkout).
	Replace string
}

// StubFunc generates the Go stubs of the given .proto files (relative to root) beside them.
type StubFunc func(ctx context.Context, root string, protos []string) error

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

// maxName keeps derived names (Kubernetes objects, DNS labels, env prefixes) within limits.
const maxName = 40

// withDefaults fills the empty fields.
func (o Options) withDefaults() Options {
	if o.Module == "" {
		o.Module = o.Name
	}
	if o.Registry == "" {
		o.Registry = "file"
	}
	if o.TianshuVersion == "" {
		o.TianshuVersion = UnreleasedVersion
	}
	return o
}

// Validate reports the first option a service cannot be generated with.
func (o Options) Validate() error {
	o = o.withDefaults()
	if len(o.Name) > maxName || !nameRE.MatchString(o.Name) {
		return fmt.Errorf("%w %q: use lower-case letters, digits and single hyphens, starting with a letter, at most %d characters (e.g. orders, order-history)",
			ErrInvalidName, o.Name, maxName)
	}
	// The rule of `go mod init`, which is CheckImportPath: CheckPath would also want a dot in
	// the first element, refusing the default module (the bare name) of a service nobody
	// imports.
	if err := module.CheckImportPath(o.Module); err != nil {
		if pe := (*module.InvalidPathError)(nil); errors.As(err, &pe) {
			err = pe.Err // the path is in our message already
		}
		return fmt.Errorf("%w %q: %s (e.g. example.com/%s)", ErrInvalidModule, o.Module, err, o.Name)
	}
	if !slices.Contains(Registries, o.Registry) {
		return fmt.Errorf("%w %q: want one of %s", ErrUnknownRegistry, o.Registry, strings.Join(Registries, ", "))
	}
	return nil
}

// data is what the templates see.
type data struct {
	Options
	Pkg, ProtoPackage, ProtoFile, Service, EnvPrefix      string
	LocalRegistryURL, ComposeRegistryURL, KubeRegistryURL string
	GoVersion, GoMinor                                    string
}

func newData(o Options) data {
	flat := strings.ReplaceAll(o.Name, "-", "")
	snake := strings.ReplaceAll(o.Name, "-", "_")
	var camel strings.Builder
	for _, part := range strings.Split(o.Name, "-") {
		camel.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	d := data{
		Options:      o,
		Pkg:          flat + "pb",
		ProtoPackage: snake + ".v1",
		ProtoFile:    snake + ".proto",
		Service:      camel.String(),
		EnvPrefix:    strings.ToUpper(snake),
		GoVersion:    GoVersion,
		GoMinor:      GoVersion[:strings.LastIndex(GoVersion, ".")],
	}
	switch o.Registry {
	case "file":
		d.LocalRegistryURL = "file://"
		d.ComposeRegistryURL = "file:///var/lib/tianshu/registry"
		d.KubeRegistryURL = d.ComposeRegistryURL
	case "zookeeper":
		d.LocalRegistryURL = "zookeeper://127.0.0.1:2181"
		d.ComposeRegistryURL = "zookeeper://zookeeper:2181"
		d.KubeRegistryURL = d.ComposeRegistryURL
	case "etcd":
		d.LocalRegistryURL = "etcd://127.0.0.1:2379"
		d.ComposeRegistryURL = "etcd://etcd:2379"
		d.KubeRegistryURL = d.ComposeRegistryURL
	case "nacos":
		d.LocalRegistryURL = "nacos://127.0.0.1:8848"
		d.ComposeRegistryURL = "nacos://nacos:8848"
		d.KubeRegistryURL = d.ComposeRegistryURL
	}
	return d
}

// Render returns the project's files, by slash-separated path, without the generated
// stubs.
func Render(o Options) (map[string][]byte, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	d := newData(o.withDefaults())
	out := map[string][]byte{}
	err := fs.WalkDir(templates, "templates", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		src, err := templates.ReadFile(p)
		if err != nil {
			return err
		}
		t, err := template.New(p).Option("missingkey=error").Parse(string(src))
		if err != nil {
			return fmt.Errorf("gen: template %s: %w", p, err)
		}
		var b bytes.Buffer
		if err := t.Execute(&b, d); err != nil {
			return fmt.Errorf("gen: template %s: %w", p, err)
		}
		name := targetPath(p, d)
		src = b.Bytes()
		if strings.HasSuffix(name, ".go") {
			// gofmt's layout whatever the options put into the template (import order).
			if src, err = format.Source(src); err != nil {
				return fmt.Errorf("gen: template %s renders invalid Go: %w", p, err)
			}
		}
		out[name] = src
		return nil
	})
	return out, err
}

// targetPath maps a template's path to the generated file's: _pkg_ and _proto_ stand for
// the stub package and the proto file, a leading underscore for a dot (embed and tools
// treat dot files specially).
func targetPath(p string, d data) string {
	p = strings.TrimSuffix(strings.TrimPrefix(p, "templates/"), ".tmpl")
	p = strings.ReplaceAll(p, "_pkg_", d.Pkg)
	p = strings.ReplaceAll(p, "_proto_.proto", d.ProtoFile)
	dir, base := path.Split(p)
	if strings.HasPrefix(base, "_") {
		base = "." + base[1:]
	}
	return dir + base
}

// ProtoPath is the path of the generated service's .proto file, relative to its root.
func ProtoPath(o Options) string {
	d := newData(o.withDefaults())
	return d.Pkg + "/" + d.ProtoFile
}

// New writes the project into dir, which must not exist or be empty, then runs stubs on
// its .proto file. It returns the written paths relative to dir, sorted. When dir is not
// empty nothing is written. When stubs fails, the other files stay and the error wraps
// ErrStubs.
func New(ctx context.Context, dir string, o Options, stubs StubFunc) ([]string, error) {
	files, err := Render(o)
	if err != nil {
		return nil, err
	}
	if err := checkEmpty(dir); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, files[name], 0o644); err != nil {
			return nil, err
		}
	}
	if stubs != nil {
		if err := stubs(ctx, dir, []string{ProtoPath(o)}); err != nil {
			return names, fmt.Errorf("%w: %w\nthe rest of the project is in %s: run `tianshu gen` there once the problem is fixed", ErrStubs, err, dir)
		}
	}
	return names, nil
}

// Tidy runs `go mod tidy` in the project New wrote into dir and in its tools module and,
// when it replaces Tianshu by a local checkout, `go mod vendor`: go.mod then names a path
// of this machine, which a Docker build context does not hold, so the dependencies travel
// in vendor/ and the Dockerfile builds with -mod=vendor. The tools module is not vendored:
// only `make gen` builds it, on a machine with a module cache.
func Tidy(ctx context.Context, dir string, o Options) error {
	for _, d := range []string{dir, filepath.Join(dir, "tools")} {
		if err := goCmd(ctx, d, "mod", "tidy"); err != nil {
			return fmt.Errorf("the project is in %s, but `go mod tidy` failed in %s (it needs the Go module proxy or a module cache holding the dependencies): %w", dir, d, err)
		}
	}
	if o.Replace == "" {
		return nil
	}
	if err := goCmd(ctx, dir, "mod", "vendor"); err != nil {
		return fmt.Errorf("the project is in %s, but `go mod vendor` failed there, so its Dockerfile cannot build: %w", dir, err)
	}
	return nil
}

// goCmd runs the go command in dir, returning its output in the error when it fails.
func goCmd(ctx context.Context, dir string, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

func checkEmpty(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("target directory %s: %w", dir, err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("%w: %s already holds %s%s; choose another --dir or remove its contents",
			ErrTargetNotEmpty, dir, entries[0].Name(), more(len(entries)-1))
	}
	return nil
}

func more(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" and %d more", n)
}
