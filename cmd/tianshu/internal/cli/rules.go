package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v4"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/config/file"
	"github.com/tianshu-go/tianshu/rules"
)

// ErrNoRules: the file given to rules validate or rules set has no top-level rules key, so it
// would set no rules (or remove them all).
var ErrNoRules = errors.New("no rules")

const rulesSynopsis = `usage: tianshu rules validate <file>
       tianshu rules get --source S [flags]
       tianshu rules set <file> --source S [flags]
       tianshu rules watch --source S [flags]

The governance rules (instance weights and drains, routes, per-method timeouts, retries,
breakers, outlier ejection, provider limits; see docs/rules.md) live under the key "rules"
of a config source. S is a file path or a backend URL: etcd://host:2379/key,
zookeeper://host:2181/node, nacos://host:8848/namespace?data_id=rules.yaml.

validate checks a document offline as every consumer checks it: it must parse, name no key
the rules do not have, and pass every rule's check; errors name the place at fault.
get prints the rules in a source as a document that set takes back. set validates <file>
and, only when it is valid, writes its rules section into S, replacing the rules there and
keeping the rest of the document, with config set's guards: a file is followed through
symlinks, locked against other sets and replaced atomically; Kubernetes-managed and
read-only files are refused; --force is needed to add rules to a document that has other
top-level keys but none named rules. watch prints the rules and each change until
interrupted, and says when a change is rejected (consumers then keep the last good rules).
`

func (c *CLI) rulesFlags(sub string) (cmdHelp, configFlags) {
	fs := c.newFlags("rules " + sub)
	var f configFlags
	f.source = fs.String("source", "", "where the rules live: a file path (YAML, JSON, TOML, .properties) or a backend URL ("+strings.Join(c.configSchemes(), ", ")+")")
	f.asJSON = fs.Bool("json", false, "get, watch: print the rules as JSON")
	f.force = fs.Bool("force", false, "set: add a rules key to a document that has other top-level keys")
	f.timeout = fs.Duration("timeout", 5*time.Second, "how long the command may take to reach the source and answer (watch: to start)")
	return cmdHelp{synopsis: rulesSynopsis, fs: fs}, f
}

func (c *CLI) cmdRules(ctx context.Context, args []string) error {
	h, f := c.rulesFlags("")
	if len(args) == 0 {
		return h.errorf("rules needs a subcommand: validate, get, set or watch")
	}
	sub, args := args[0], args[1:]
	if sub == "-h" || sub == "--help" || sub == "-help" || sub == "help" {
		fmt.Fprint(c.Stdout, h)
		return flag.ErrHelp
	}
	names, ok := map[string][]string{"validate": {"<file>"}, "get": nil, "set": {"<file>"}, "watch": nil}[sub]
	if !ok {
		return h.errorf("unknown rules subcommand %q: want validate, get, set or watch", sub)
	}
	h, f = c.rulesFlags(sub)
	pos, err := c.parse(h, args)
	if err != nil {
		return err
	}
	if err := wantArgs(h, "rules "+sub, pos, names...); err != nil {
		return err
	}
	if sub != "validate" && *f.source == "" {
		return h.errorf("rules %s needs --source (a file path or a backend URL)", sub)
	}
	source, timeout := *f.source, *f.timeout
	if sub == "watch" {
		return c.rulesWatch(ctx, source, timeout, *f.asJSON)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch sub {
	case "validate":
		r, err := readRulesFile(ctx, pos[0])
		if err != nil {
			return fmt.Errorf("rules validate %s: %w", pos[0], err)
		}
		fmt.Fprintf(c.Stdout, "%s: valid rules for %d service(s)\n", pos[0], len(r.Services))
		return nil
	case "set":
		return c.rulesSet(ctx, pos[0], source, *f.force, timeout)
	}
	src, closer, err := c.openSource(ctx, source, timeout)
	if err != nil {
		return err
	}
	if closer != nil {
		defer closer.Close()
	}
	docs, err := src.Load(ctx)
	if err != nil {
		return unreachable(source, timeout, err)
	}
	raw, _, err := rulesOf(ctx, docs)
	if err != nil {
		return fmt.Errorf("the rules in %s are rejected by every consumer, which keeps the last good rules it read: %w", redact(source), err)
	}
	return printRules(c.Stdout, raw, *f.asJSON)
}

// rulesOf reads the rules of docs as a consumer does (rules.Read: merged, strict about
// unknown keys, validated) and returns them as written, with whether a rules key is there.
func rulesOf(ctx context.Context, docs []config.Document) (raw any, present bool, err error) {
	if _, err := rules.Read(ctx, []config.Source{snapshot(docs)}); err != nil {
		return nil, false, err
	}
	return lookup(ctx, docs, rules.Key)
}

// readRulesFile loads and validates the rules document at path, which must have a rules key.
func readRulesFile(ctx context.Context, path string) (*rules.Rules, error) {
	docs, err := file.New(path).Load(ctx)
	if err != nil {
		return nil, err
	}
	r, err := rules.Read(ctx, []config.Source{snapshot(docs)})
	if err != nil {
		return nil, err
	}
	if _, ok, _ := lookup(ctx, docs, rules.Key); !ok {
		return nil, fmt.Errorf("%w in %s: write the document as rules: {services: ..., defaults: ...} (see docs/rules.md)", ErrNoRules, path)
	}
	return r, nil
}

// rulesSet validates the rules of path and writes them into source under the rules key.
func (c *CLI) rulesSet(ctx context.Context, path, source string, force bool, timeout time.Duration) error {
	if _, err := readRulesFile(ctx, path); err != nil {
		return fmt.Errorf("rules set %s: %s was not changed: %w", path, redact(source), err)
	}
	value, err := rulesSection(ctx, path)
	if err != nil {
		return err
	}
	if target, ok := filePath(source); ok {
		return setFileKey(ctx, target, rules.Key, value, force)
	}
	src, closer, err := c.openSource(ctx, source, timeout)
	if err != nil {
		return err
	}
	if closer != nil {
		defer closer.Close()
	}
	return setRemoteKey(ctx, src, source, rules.Key, value, force, timeout)
}

// rulesSection returns the rules section of the file at path as YAML text: for YAML and JSON
// the section as written, comments and order kept; for other formats as decoded.
func rulesSection(ctx context.Context, path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	if f := config.FormatOf(path); f == config.YAML || f == config.JSON {
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err == nil && len(doc.Content) == 1 && doc.Content[0].Kind == yaml.MappingNode {
			m := doc.Content[0]
			for i := 0; i+1 < len(m.Content); i += 2 {
				if strings.EqualFold(m.Content[i].Value, rules.Key) {
					return encodeYAML(m.Content[i+1])
				}
			}
		}
	}
	docs, err := file.New(path).Load(ctx)
	if err != nil {
		return "", err
	}
	raw, _, err := lookup(ctx, docs, rules.Key)
	if err != nil {
		return "", err
	}
	return encodeYAML(raw)
}

func encodeYAML(v any) (string, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	if err := enc.Close(); err != nil {
		return "", err
	}
	return b.String(), nil
}

// printRules prints the rules as a document rules set takes back: rules: {...}.
func printRules(w io.Writer, raw any, asJSON bool) error {
	if raw == nil {
		raw = map[string]any{}
	}
	doc := map[string]any{rules.Key: raw}
	if asJSON {
		b, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	s, err := encodeYAML(doc)
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, s)
	return err
}

// rulesWatch prints the rules and every change of them until ctx ends, and each rejected
// change once; timeout bounds the start.
func (c *CLI) rulesWatch(ctx context.Context, source string, timeout time.Duration, asJSON bool) error {
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
	lastErr, first := "", true
	for {
		docs, err := w.Next(ctx)
		if errors.Is(err, config.ErrStopped) || ctx.Err() != nil {
			return nil
		}
		if err == nil {
			var raw any
			if raw, _, err = rulesOf(ctx, docs); err == nil {
				lastErr = ""
				if !first && reflect.DeepEqual(raw, last) {
					continue
				}
				first, last = false, raw
				if !asJSON {
					fmt.Fprintf(c.Stdout, "# %s rules in force:\n", time.Now().Format(time.TimeOnly))
				}
				if err := printRules(c.Stdout, raw, asJSON); err != nil {
					return err
				}
				continue
			}
			err = fmt.Errorf("change rejected, consumers keep the last good rules: %w", err)
		} else {
			err = fmt.Errorf("watch %s: %w (still watching)", redact(source), err)
		}
		if err.Error() != lastErr { // as consumers report it: once until a change succeeds
			lastErr = err.Error()
			fmt.Fprintf(c.Stderr, "tianshu: %v\n", err)
		}
	}
}
