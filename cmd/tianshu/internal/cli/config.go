package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v4"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/config/file"
)

// ErrKeyNotSet: config get found no value at the key.
var ErrKeyNotSet = errors.New("key not set")

func (c *CLI) cmdConfig(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: config needs a subcommand: get, set or watch", ErrUsage)
	}
	sub, args := args[0], args[1:]
	names := map[string][]string{"get": {"<key>"}, "set": {"<key>", "<value>"}, "watch": {"<key>"}}[sub]
	if names == nil {
		return fmt.Errorf("%w: unknown config subcommand %q: want get, set or watch", ErrUsage, sub)
	}
	fs := c.newFlags("config " + sub)
	source := fs.String("source", "", "where the config lives: a file path (YAML, JSON, TOML, .properties) or a backend URL ("+strings.Join(c.configSchemes(), ", ")+")")
	asJSON := fs.Bool("json", false, "print values as JSON")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the source to answer")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("config "+sub, pos, names...); err != nil {
		return err
	}
	if *source == "" {
		return fmt.Errorf("%w: config %s needs --source (a file path or a backend URL)", ErrUsage, sub)
	}
	key := pos[0]
	if sub == "set" {
		path, ok := filePath(*source)
		if !ok {
			return fmt.Errorf("config set writes files only (YAML or JSON) for now; %s is a remote source: change it with the backend's own tools", redact(*source))
		}
		return setFileKey(path, key, pos[1])
	}

	src, closer, err := c.openSource(ctx, *source, *timeout)
	if err != nil {
		return err
	}
	if closer != nil {
		defer closer.Close()
	}
	if sub == "get" {
		lctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		docs, err := src.Load(lctx)
		if err != nil {
			return unreachable(*source, *timeout, err)
		}
		v, ok, err := lookup(ctx, docs, key)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: %q in %s", ErrKeyNotSet, key, redact(*source))
		}
		return printValue(c.Stdout, v, *asJSON)
	}

	wctx, cancel := context.WithTimeout(ctx, *timeout)
	w, err := src.Watch(wctx)
	cancel()
	if errors.Is(err, config.ErrNotWatchable) {
		return fmt.Errorf("%s cannot change while it is read, so there is nothing to watch", redact(*source))
	}
	if err != nil {
		return unreachable(*source, *timeout, err)
	}
	defer w.Stop()
	var last any
	first := true
	for {
		docs, err := w.Next(ctx)
		if errors.Is(err, config.ErrStopped) || ctx.Err() != nil {
			return nil
		}
		if err != nil {
			fmt.Fprintf(c.Stderr, "tianshu: watch %s: %v (still watching)\n", redact(*source), err)
			continue
		}
		v, ok, err := lookup(ctx, docs, key)
		if err != nil { // a bad edit: the last good value stands, as in a service
			fmt.Fprintf(c.Stderr, "tianshu: %v (change ignored)\n", err)
			continue
		}
		if !first && reflect.DeepEqual(v, last) {
			continue
		}
		first, last = false, v
		if !*asJSON {
			fmt.Fprintf(c.Stdout, "%s  %s = ", time.Now().Format(time.TimeOnly), key)
		}
		if !ok {
			if *asJSON {
				fmt.Fprintln(c.Stdout, "null")
			} else {
				fmt.Fprintln(c.Stdout, "(not set)")
			}
			continue
		}
		if err := printValue(c.Stdout, v, *asJSON); err != nil {
			return err
		}
	}
}

// filePath reports whether source names a local file, and its path.
func filePath(source string) (string, bool) {
	if p, ok := strings.CutPrefix(source, "file://"); ok {
		return p, true
	}
	if strings.Contains(source, "://") {
		return "", false
	}
	return source, true
}

func (c *CLI) openSource(ctx context.Context, source string, timeout time.Duration) (config.Source, io.Closer, error) {
	if path, ok := filePath(source); ok {
		if _, err := os.Stat(path); err != nil {
			return nil, nil, fmt.Errorf("config source: %w", err)
		}
		return file.New(path), nil, nil
	}
	scheme, _, _ := strings.Cut(source, "://")
	open := c.ConfigSources[scheme]
	if open == nil {
		return nil, nil, fmt.Errorf("no config source for %s:// (this tianshu knows %s)", scheme, strings.Join(c.configSchemes(), ", "))
	}
	octx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	src, closer, err := open(octx, source)
	if err != nil {
		return nil, nil, unreachable(source, timeout, err)
	}
	return src, closer, nil
}

// snapshot is a fixed set of documents, so that a key is looked up with the same merging,
// decoding and placeholder rules a service applies.
type snapshot []config.Document

func (s snapshot) Load(context.Context) ([]config.Document, error) { return s, nil }

func (s snapshot) Watch(context.Context) (config.Watcher, error) { return nil, config.ErrNotWatchable }

func lookup(ctx context.Context, docs []config.Document, key string) (any, bool, error) {
	cfg, err := config.New(ctx, []config.Source{snapshot(docs)}, config.WithoutWatch())
	if err != nil {
		return nil, false, err
	}
	defer cfg.Close()
	v, ok := cfg.Get(key)
	return v, ok, nil
}

func printValue(w io.Writer, v any, asJSON bool) error {
	if asJSON {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	switch v.(type) {
	case map[string]any, []any:
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "\n%s", b)
		return err
	case time.Time:
		_, err := fmt.Fprintln(w, v.(time.Time).Format(time.RFC3339Nano))
		return err
	}
	_, err := fmt.Fprintln(w, v)
	return err
}

// setFileKey writes value at a dotted key of a YAML or JSON file, creating the levels that
// are missing. The value is read as YAML (3 is a number, true a boolean, "3" a string).
// YAML files keep their comments and order; the file is replaced atomically, so a reader
// (a service watching it) never sees half of it.
func setFileKey(path, key, value string) error {
	if key == "" || strings.HasPrefix(key, ".") || strings.HasSuffix(key, ".") || strings.Contains(key, "..") {
		return fmt.Errorf("%w: key %q: want dotted names such as db.pool.size", ErrUsage, key)
	}
	format := config.FormatOf(path)
	if format != config.YAML && format != config.JSON {
		return fmt.Errorf("config set edits .yaml, .yml and .json files; %s is %q", path, format)
	}
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var val yaml.Node
	if err := yaml.Unmarshal([]byte(value), &val); err != nil || len(val.Content) == 0 {
		val = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Tag: "!!str", Value: value}}}
	}
	var doc yaml.Node
	if len(strings.TrimSpace(string(data))) > 0 {
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return fmt.Errorf("%s does not parse, so it was left as it is: %w", path, err)
		}
	}
	if len(doc.Content) == 0 {
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode}}}
	}
	node := doc.Content[0]
	parts := strings.Split(key, ".")
	for i, part := range parts {
		if node.Kind != yaml.MappingNode {
			return fmt.Errorf("%s: %s is not a mapping, so %s cannot be set below it", path, strings.Join(parts[:i], "."), key)
		}
		var next *yaml.Node
		for j := 0; j+1 < len(node.Content); j += 2 {
			if strings.EqualFold(node.Content[j].Value, part) { // keys match as a service reads them
				next = node.Content[j+1]
				if i == len(parts)-1 {
					nv := val.Content[0]
					nv.HeadComment, nv.LineComment, nv.FootComment = next.HeadComment, next.LineComment, next.FootComment
					node.Content[j+1] = nv
				}
				break
			}
		}
		if next == nil {
			next = &yaml.Node{Kind: yaml.MappingNode}
			if i == len(parts)-1 {
				next = val.Content[0]
			}
			node.Content = append(node.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: part}, next)
		}
		node = next
	}
	var out []byte
	if format == config.JSON {
		var tree any
		if err := doc.Decode(&tree); err != nil {
			return err
		}
		if out, err = json.MarshalIndent(tree, "", "  "); err != nil {
			return err
		}
		out = append(out, '\n')
	} else {
		var b bytes.Buffer
		enc := yaml.NewEncoder(&b)
		enc.SetIndent(2)
		if err := enc.Encode(&doc); err != nil {
			return err
		}
		if err := enc.Close(); err != nil {
			return err
		}
		out = b.Bytes()
	}
	return writeAtomic(path, out)
}

func writeAtomic(path string, data []byte) error {
	mode := os.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
