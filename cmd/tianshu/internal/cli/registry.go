package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tianshu-go/tianshu/registry"
)

// ErrUnreachable: a registry or config backend could not be reached in time.
var ErrUnreachable = errors.New("backend unreachable")

func (c *CLI) cmdRegistry(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: registry needs a subcommand: ls or watch", ErrUsage)
	}
	sub, args := args[0], args[1:]
	if sub != "ls" && sub != "watch" {
		return fmt.Errorf("%w: unknown registry subcommand %q: want ls or watch", ErrUsage, sub)
	}
	fs := c.newFlags("registry " + sub)
	def := c.getenv("TIANSHU_REGISTRY")
	if def == "" {
		def = "file://"
	}
	rawURL := fs.String("registry", def, "registry URL: file:///dir, zookeeper://host:2181, etcd://host:2379, nacos://host:8848 (default $TIANSHU_REGISTRY, else file://)")
	asJSON := fs.Bool("json", false, "print JSON (ls: one array; watch: one array per line)")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the registry to answer")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("registry "+sub, pos, "<service>"); err != nil {
		return err
	}
	service := pos[0]
	if err := registry.ValidateName("service", service); err != nil {
		return err
	}
	reg, err := openRegistry(ctx, *rawURL, *timeout)
	if err != nil {
		return err
	}
	defer reg.Close()

	if sub == "ls" {
		lctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		list, err := reg.GetService(lctx, service)
		if err != nil {
			return unreachable(*rawURL, *timeout, err)
		}
		return printInstances(c.Stdout, list, *asJSON)
	}

	wctx, cancel := context.WithTimeout(ctx, *timeout)
	w, err := reg.Watch(wctx, service)
	cancel()
	if err != nil {
		return unreachable(*rawURL, *timeout, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = w.Stop() })
	defer stop()
	defer w.Stop()
	for {
		list, err := w.Next()
		if errors.Is(err, registry.ErrWatcherStopped) {
			return nil
		}
		if err != nil {
			fmt.Fprintf(c.Stderr, "tianshu: watch %s: %v (still watching)\n", service, err)
			continue
		}
		if !*asJSON {
			fmt.Fprintf(c.Stdout, "%s  %s: %d instance(s)\n", time.Now().Format(time.TimeOnly), service, len(list))
		}
		if err := printInstances(c.Stdout, list, *asJSON); err != nil {
			return err
		}
	}
}

// openRegistry opens a registry URL within timeout, turning failures into errors that name
// the address and the timeout.
func openRegistry(ctx context.Context, rawURL string, timeout time.Duration) (registry.Registry, error) {
	octx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	reg, err := registry.Open(octx, rawURL)
	if err != nil {
		if errors.Is(err, registry.ErrUnknownScheme) {
			return nil, err
		}
		return nil, unreachable(rawURL, timeout, err)
	}
	return reg, nil
}

func unreachable(rawURL string, timeout time.Duration, err error) error {
	return fmt.Errorf("%w: %s (timeout %v; --timeout sets it): %w", ErrUnreachable, redact(rawURL), timeout, err)
}

// redact hides a password in a URL before it is printed.
func redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

func printInstances(w io.Writer, list []*registry.Instance, asJSON bool) error {
	if asJSON {
		if list == nil {
			list = []*registry.Instance{}
		}
		b, err := json.Marshal(list)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tVERSION\tENDPOINTS\tWEIGHT\tZONE\tMETADATA")
	for _, in := range list {
		eps := make([]string, len(in.Endpoints))
		for i, e := range in.Endpoints {
			eps[i] = e.String()
		}
		md := make([]string, 0, len(in.Metadata))
		for _, k := range slices.Sorted(maps.Keys(in.Metadata)) {
			md = append(md, k+"="+in.Metadata[k])
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", in.ID, dash(in.Version), dash(strings.Join(eps, ",")),
			strconv.Itoa(in.EffectiveWeight()), dash(in.Zone), dash(strings.Join(md, ",")))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
