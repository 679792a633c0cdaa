package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v4"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/config/file"
	"github.com/tianshu-go/tianshu/internal/editdist"
)

// Errors of config commands, wrapped with details; test for them with errors.Is.
var (
	// ErrKeyNotSet: config get found no value at the key.
	ErrKeyNotSet = errors.New("key not set")
	// ErrNeedsForce: config set would replace a whole section with a value, or add a
	// top-level key the document does not have; both are more often typos than intended.
	ErrNeedsForce = errors.New("refused without --force")
)

const configSynopsis = `usage: tianshu config get <key> --source S [flags]
       tianshu config set <key> <value> --source S [flags]
       tianshu config watch <key> --source S [flags]

get prints a key's value, set changes it, watch prints it again on every change until
interrupted. S is a file path (YAML, JSON, TOML, .properties; set edits YAML and JSON) or
a backend URL: etcd://host:2379/key, zookeeper://host:2181/node,
nacos://host:8848/namespace?data_id=app.yaml, springconfig://host:8888/app?profile=prod (a
Spring Cloud Config Server; read only). Keys are dotted (db.pool.size) and match as a
service reads them, ignoring case.

set parses the value as YAML: 3 is a number, true a boolean, '"3"' a string, '{a: 1}' a
mapping, '[a, b]' a list. Unless --force, it refuses to replace a section (a mapping or a
list) with another kind of value, and to add a top-level key the document does not have:
both are usually typos. A file is followed through symlinks, locked against other sets
and replaced atomically, keeping its mode.
`

// configFlags are the flags of the config subcommands.
type configFlags struct {
	source  *string
	asJSON  *bool
	force   *bool
	timeout *time.Duration
}

func (c *CLI) configFlags(sub string) (cmdHelp, configFlags) {
	fs := c.newFlags("config " + sub)
	var f configFlags
	f.source = fs.String("source", "", "where the config lives: a file path (YAML, JSON, TOML, .properties) or a backend URL ("+strings.Join(c.configSchemes(), ", ")+")")
	f.asJSON = fs.Bool("json", false, "get, watch: print values as JSON")
	f.force = fs.Bool("force", false, "set: replace a section with a value, or add a new top-level key")
	f.timeout = fs.Duration("timeout", 5*time.Second, "how long the command may take to reach the source and answer (watch: to start)")
	return cmdHelp{synopsis: configSynopsis, fs: fs}, f
}

func (c *CLI) cmdConfig(ctx context.Context, args []string) error {
	h, f := c.configFlags("")
	if len(args) == 0 {
		return h.errorf("config needs a subcommand: get, set or watch")
	}
	sub, args := args[0], args[1:]
	if sub == "-h" || sub == "--help" || sub == "-help" || sub == "help" {
		fmt.Fprint(c.Stdout, h)
		return flag.ErrHelp
	}
	names := map[string][]string{"get": {"<key>"}, "set": {"<key>", "<value>"}, "watch": {"<key>"}}[sub]
	if names == nil {
		return h.errorf("unknown config subcommand %q: want get, set or watch", sub)
	}
	h, f = c.configFlags(sub)
	pos, err := c.parse(h, args)
	if err != nil {
		return err
	}
	if err := wantArgs(h, "config "+sub, pos, names...); err != nil {
		return err
	}
	if *f.source == "" {
		return h.errorf("config %s needs --source (a file path or a backend URL)", sub)
	}
	source, timeout, key := *f.source, *f.timeout, pos[0]
	if sub == "watch" {
		return c.configWatch(ctx, source, key, timeout, *f.asJSON)
	}
	// One deadline for the whole command: connecting and answering share the timeout.
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if path, ok := filePath(source); ok && sub == "set" {
		return setFileKey(ctx, path, key, pos[1], *f.force)
	}
	src, closer, err := c.openSource(ctx, source, timeout)
	if err != nil {
		return err
	}
	if closer != nil {
		defer closer.Close()
	}
	if sub == "set" {
		return setRemoteKey(ctx, src, source, key, pos[1], *f.force, timeout)
	}
	docs, err := src.Load(ctx)
	if err != nil {
		return unreachable(source, timeout, err)
	}
	v, ok, err := lookup(ctx, docs, key)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: %q in %s", ErrKeyNotSet, key, redact(source))
	}
	return printValue(c.Stdout, v, *f.asJSON)
}

// configWatch prints key's value and then every change of it until ctx ends; timeout
// bounds the start.
func (c *CLI) configWatch(ctx context.Context, source, key string, timeout time.Duration, asJSON bool) error {
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	src, closer, err := c.openSource(sctx, source, timeout)
	if err != nil {
		return err
	}
	if closer != nil {
		defer closer.Close()
	}
	w, err := src.Watch(sctx)
	cancel()
	if errors.Is(err, config.ErrNotWatchable) {
		return fmt.Errorf("%s cannot change while it is read, so there is nothing to watch", redact(source))
	}
	if err != nil {
		return unreachable(source, timeout, err)
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
			fmt.Fprintf(c.Stderr, "tianshu: watch %s: %v (still watching)\n", redact(source), err)
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
		if !asJSON {
			fmt.Fprintf(c.Stdout, "%s  %s = ", time.Now().Format(time.TimeOnly), key)
		}
		if !ok {
			if asJSON {
				fmt.Fprintln(c.Stdout, "null")
			} else {
				fmt.Fprintln(c.Stdout, "(not set)")
			}
			continue
		}
		if err := printValue(c.Stdout, v, asJSON); err != nil {
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

// openSource opens the config source named by source within ctx, which carries the
// command's deadline (timeout is only for the error message).
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
	src, closer, err := open(ctx, source)
	if err != nil {
		if errors.Is(err, ErrUsage) {
			return nil, nil, err
		}
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

// documentWriter is implemented by remote config sources that can store a document (the
// Nacos source; etcd and ZooKeeper through the openers in cmd/tianshu/backends.go).
type documentWriter interface {
	Put(ctx context.Context, name string, data []byte) error
}

// setRemoteKey edits the one document of a remote source as setFileKey edits a file.
func setRemoteKey(ctx context.Context, src config.Source, source, key, value string, force bool, timeout time.Duration) error {
	w, ok := src.(documentWriter)
	if !ok {
		return fmt.Errorf("config set: %s cannot be written by this tianshu", redact(source))
	}
	docs, err := src.Load(ctx)
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
	out, err := editDocument(docs[0].Name, format, docs[0].Data, key, value, force)
	if err != nil {
		return err
	}
	if err := w.Put(ctx, docs[0].Name, out); err != nil {
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

// editDocument sets value at a dotted key of a YAML or JSON document named name, creating
// the levels that are missing, and returns the new document. The value is read as YAML (3 is
// a number, true a boolean, "3" a string); YAML keeps its comments and order. Unless force,
// it refuses (ErrNeedsForce) to replace a mapping or list with another kind of value, and to
// add a top-level key to a document that has others.
func editDocument(name string, format config.Format, data []byte, key, value string, force bool) ([]byte, error) {
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
	root := node
	hadKeys := node.Kind == yaml.MappingNode && len(node.Content) > 0
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
					if !force && (next.Kind == yaml.MappingNode || next.Kind == yaml.SequenceNode) && nv.Kind != next.Kind {
						return nil, replaceSectionError(path, strings.Join(append(parts[:i:i], node.Content[j].Value), "."), next, value)
					}
					nv.HeadComment, nv.LineComment, nv.FootComment = next.HeadComment, next.LineComment, next.FootComment
					node.Content[j+1] = nv
				}
				break
			}
		}
		if next == nil {
			if i == 0 && hadKeys && !force {
				return nil, newTopLevelKeyError(path, key, root)
			}
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

// replaceSectionError explains why setting section to a value of another kind is refused.
func replaceSectionError(doc, section string, old *yaml.Node, value string) error {
	what := "a list of " + strconv.Itoa(len(old.Content)) + " item(s)"
	inside := section + ".0"
	if old.Kind == yaml.MappingNode {
		keys := make([]string, 0, len(old.Content)/2)
		for j := 0; j+1 < len(old.Content); j += 2 {
			keys = append(keys, old.Content[j].Value)
		}
		what = "a mapping (a section holding " + strings.Join(keys, ", ") + ")"
		if len(keys) > 0 {
			inside = section + "." + keys[0]
		}
	}
	return fmt.Errorf("%w: %s in %s is %s; setting it to %q would replace all of it. "+
		"Set a key inside it (such as %s), or pass --force to replace it", ErrNeedsForce, section, doc, what, value, inside)
}

// newTopLevelKeyError explains why adding a top-level key is refused, suggesting the keys
// the user may have meant.
func newTopLevelKeyError(doc, key string, root *yaml.Node) error {
	var tops []string
	for j := 0; j+1 < len(root.Content); j += 2 {
		tops = append(tops, root.Content[j].Value)
	}
	hint := "."
	if near := nearestKeys(key, keyPaths(root, "", 0)); len(near) > 0 {
		hint = "; did you mean " + strings.Join(near, " or ") + "?"
	}
	return fmt.Errorf("%w: %s has no top-level key %q (it has %s)%s "+
		"Pass --force to add %s as a new top-level key", ErrNeedsForce, doc, strings.Split(key, ".")[0], strings.Join(tops, ", "), hint, key)
}

// keyPaths lists the dotted paths of every key in a mapping and the mappings below it.
func keyPaths(n *yaml.Node, prefix string, depth int) []string {
	if n.Kind != yaml.MappingNode || depth > 16 {
		return nil
	}
	var out []string
	for j := 0; j+1 < len(n.Content); j += 2 {
		p := prefix + n.Content[j].Value
		out = append(out, p)
		out = append(out, keyPaths(n.Content[j+1], p+".", depth+1)...)
	}
	return out
}

// nearestKeys picks from paths the ones key most likely misspells: those ending in key
// (failure_rate for payment.failure_rate), else those a few edits away.
func nearestKeys(key string, paths []string) []string {
	k := strings.ToLower(key)
	var out []string
	for _, p := range paths {
		if strings.HasSuffix(strings.ToLower(p), "."+k) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		best := max(2, len(k)/4) + 1
		for _, p := range paths {
			d := editdist.Distance(k, strings.ToLower(p))
			switch {
			case d < best:
				best, out = d, []string{p}
			case d == best:
				out = append(out, p)
			}
		}
	}
	slices.Sort(out)
	return out[:min(len(out), 3)]
}
