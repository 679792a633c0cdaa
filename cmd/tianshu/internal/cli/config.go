package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
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
	if path, ok := filePath(*source); ok && sub == "set" {
		return setFileKey(path, key, pos[1])
	}

	src, closer, err := c.openSource(ctx, *source, *timeout)
	if err != nil {
		return err
	}
	if closer != nil {
		defer closer.Close()
	}
	if sub == "set" {
		return setRemoteKey(ctx, src, *source, key, pos[1], *timeout)
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
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	out, err := editDocument(path, config.FormatOf(path), data, key, value)
	if err != nil {
		return err
	}
	return writeAtomic(path, out)
}

// documentWriter is implemented by remote config sources that can store a document (the
// Nacos source; etcd and ZooKeeper through the openers in cmd/tianshu/backends.go).
type documentWriter interface {
	Put(ctx context.Context, name string, data []byte) error
}

// setRemoteKey edits the one document of a remote source as setFileKey edits a file.
func setRemoteKey(ctx context.Context, src config.Source, source, key, value string, timeout time.Duration) error {
	w, ok := src.(documentWriter)
	if !ok {
		return fmt.Errorf("config set: %s cannot be written by this tianshu", redact(source))
	}
	lctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	docs, err := src.Load(lctx)
	if err != nil {
		return unreachable(source, timeout, err)
	}
	if len(docs) == 0 { // a new document: named as the URL names it
		docs = []config.Document{{Name: remoteDocName(source)}}
	}
	if len(docs) != 1 || docs[0].Name == "" {
		return fmt.Errorf("config set edits one document; %s holds %d: name one key, node or data_id", redact(source), len(docs))
	}
	format := docs[0].Format
	if format == "" {
		format = config.FormatOf(docs[0].Name)
	}
	if format == "" {
		format = config.YAML
	}
	out, err := editDocument(docs[0].Name, format, docs[0].Data, key, value)
	if err != nil {
		return err
	}
	if err := w.Put(lctx, docs[0].Name, out); err != nil {
		return unreachable(source, timeout, err)
	}
	return nil
}

// remoteDocName is the document a backend URL names: its data_id parameter (Nacos), else
// its path (an etcd key, a ZooKeeper node).
func remoteDocName(source string) string {
	u, err := url.Parse(source)
	if err != nil {
		return ""
	}
	if id := u.Query().Get("data_id"); id != "" {
		return id
	}
	return u.Path
}

// editDocument sets value at a dotted key of a YAML or JSON document named name and
// returns the new document; see setFileKey.
func editDocument(name string, format config.Format, data []byte, key, value string) ([]byte, error) {
	if key == "" || strings.HasPrefix(key, ".") || strings.HasSuffix(key, ".") || strings.Contains(key, "..") {
		return nil, fmt.Errorf("%w: key %q: want dotted names such as db.pool.size", ErrUsage, key)
	}
	if format != config.YAML && format != config.JSON {
		return nil, fmt.Errorf("config set edits YAML and JSON documents (.yaml, .yml and .json files); %s is %q", name, format)
	}
	path := name
	var val yaml.Node
	if err := yaml.Unmarshal([]byte(value), &val); err != nil || len(val.Content) == 0 {
		val = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Tag: "!!str", Value: value}}}
	}
	var doc yaml.Node
	if len(strings.TrimSpace(string(data))) > 0 {
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("%s does not parse, so it was left as it is: %w", path, err)
		}
	}
	if len(doc.Content) == 0 {
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode}}}
	}
	node := doc.Content[0]
	parts := strings.Split(key, ".")
	for i, part := range parts {
		if node.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s: %s is not a mapping, so %s cannot be set below it", path, strings.Join(parts[:i], "."), key)
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
			return nil, err
		}
		var err error
		if out, err = json.MarshalIndent(tree, "", "  "); err != nil {
			return nil, err
		}
		out = append(out, '\n')
	} else {
		var b bytes.Buffer
		enc := yaml.NewEncoder(&b)
		enc.SetIndent(2)
		if err := enc.Encode(&doc); err != nil {
			return nil, err
		}
		if err := enc.Close(); err != nil {
			return nil, err
		}
		out = b.Bytes()
	}
	return out, nil
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
