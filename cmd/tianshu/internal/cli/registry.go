package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
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

const registrySynopsis = `usage: tianshu registry ls [<service>] [flags]
       tianshu registry watch <service> [flags]

ls prints a service's instances, or, with no service, the services the registry holds and
how many instances each has; watch prints the instances again on every change until
interrupted. The registry URL is one of file:///abs/dir (file:// alone: the default
directory), zookeeper://host:2181, etcd://host:2379, nacos://host:8848 (with the backends
this binary has); $TIANSHU_REGISTRY sets its default.
`

// registryFlags are the flags of the registry subcommands.
type registryFlags struct {
	url     *string
	asJSON  *bool
	timeout *time.Duration
}

func (c *CLI) registryFlags(sub string) (cmdHelp, registryFlags) {
	fs := c.newFlags("registry " + sub)
	def := c.getenv("TIANSHU_REGISTRY")
	if def == "" {
		def = "file://"
	}
	var f registryFlags
	f.url = fs.String("registry", def, "registry URL: file:///abs/dir, zookeeper://host:2181, etcd://host:2379, nacos://host:8848; taken from $TIANSHU_REGISTRY when set")
	f.asJSON = fs.Bool("json", false, "print JSON (ls: one array; watch: one array per line)")
	f.timeout = fs.Duration("timeout", 5*time.Second, "how long the command may take to reach the registry and answer (watch: to start)")
	return cmdHelp{synopsis: registrySynopsis, fs: fs}, f
}

func (c *CLI) cmdRegistry(ctx context.Context, args []string) error {
	h, f := c.registryFlags("")
	if len(args) == 0 {
		return h.errorf("registry needs a subcommand: ls or watch")
	}
	sub, args := args[0], args[1:]
	if sub == "-h" || sub == "--help" || sub == "-help" || sub == "help" {
		fmt.Fprint(c.Stdout, h)
		return flag.ErrHelp
	}
	if sub != "ls" && sub != "watch" {
		return h.errorf("unknown registry subcommand %q: want ls or watch", sub)
	}
	h, f = c.registryFlags(sub)
	pos, err := c.parse(h, args)
	if err != nil {
		return err
	}
	if sub == "ls" && len(pos) == 0 {
		return c.listServices(ctx, h, f)
	}
	if err := wantArgs(h, "registry "+sub, pos, "<service>"); err != nil {
		return err
	}
	service := pos[0]
	if err := registry.ValidateName("service", service); err != nil {
		// The registry's sentinel speaks of instances; here the user typed a name.
		detail := strings.TrimPrefix(err.Error(), registry.ErrInvalidInstance.Error()+": ")
		return h.errorf("invalid service name: %s", detail)
	}
	rawURL, timeout := *f.url, *f.timeout
	if sub == "watch" {
		return c.watchService(ctx, h, rawURL, service, timeout, *f.asJSON)
	}
	// One deadline for the whole command: a backend that connects lazily must not get the
	// timeout once to connect and again to answer.
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	reg, err := openRegistry(ctx, h, rawURL, timeout)
	if err != nil {
		return err
	}
	defer reg.Close()
	list, err := reg.GetService(ctx, service)
	if err != nil {
		return unreachable(rawURL, timeout, err)
	}
	return printInstances(c.Stdout, list, *f.asJSON)
}

// watchService prints the instances of service on every change until ctx ends; timeout
// bounds the start.
func (c *CLI) watchService(ctx context.Context, h cmdHelp, rawURL, service string, timeout time.Duration, asJSON bool) error {
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	reg, err := openRegistry(sctx, h, rawURL, timeout)
	if err != nil {
		return err
	}
	defer reg.Close()
	w, err := reg.Watch(sctx, service)
	cancel()
	if err != nil {
		return unreachable(rawURL, timeout, err)
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
		if !asJSON {
			fmt.Fprintf(c.Stdout, "%s  %s: %d instance(s)\n", time.Now().Format(time.TimeOnly), service, len(list))
		}
		if err := printInstances(c.Stdout, list, asJSON); err != nil {
			return err
		}
	}
}

// serviceCount is a line of `registry ls` without a service.
type serviceCount struct {
	Service   string `json:"service"`
	Instances int    `json:"instances"`
}

// listServices prints the services the registry holds, with their instance counts.
func (c *CLI) listServices(ctx context.Context, h cmdHelp, f registryFlags) error {
	rawURL, timeout := *f.url, *f.timeout
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	reg, err := openRegistry(ctx, h, rawURL, timeout)
	if err != nil {
		return err
	}
	defer reg.Close()
	lister, ok := reg.(registry.ServiceLister)
	if !ok {
		return fmt.Errorf("the %s backend cannot list its services: name one, tianshu registry ls <service>", schemeOf(rawURL))
	}
	names, err := lister.ListServices(ctx)
	if err != nil {
		return unreachable(rawURL, timeout, err)
	}
	counts := make([]serviceCount, 0, len(names))
	for _, name := range names {
		list, err := reg.GetService(ctx, name)
		if err != nil {
			return unreachable(rawURL, timeout, err)
		}
		counts = append(counts, serviceCount{Service: name, Instances: len(list)})
	}
	if *f.asJSON {
		b, err := json.Marshal(counts)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(c.Stdout, "%s\n", b)
		return err
	}
	tw := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tINSTANCES")
	for _, sc := range counts {
		fmt.Fprintf(tw, "%s\t%d\n", sc.Service, sc.Instances)
	}
	return tw.Flush()
}

func schemeOf(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil && u.Scheme != "" {
		return u.Scheme
	}
	return rawURL
}

// openRegistry opens a registry URL within ctx, turning failures to reach it into errors
// that name the address and the timeout, and mistakes in it into usage errors.
func openRegistry(ctx context.Context, h cmdHelp, rawURL string, timeout time.Duration) (registry.Registry, error) {
	if u, err := url.Parse(rawURL); err == nil && u.Scheme == "file" && u.Host != "" && u.Host != "localhost" {
		return nil, h.errorf("--registry %s names the host %q, not a directory: a file registry URL takes an absolute path, "+
			"file:///abs/dir (three slashes), or file:// alone for the default directory; for %s under this directory use file://$PWD/%s",
			rawURL, u.Host, u.Host+u.Path, u.Host+u.Path)
	}
	reg, err := registry.Open(ctx, rawURL)
	if err == nil {
		err = waitHealthy(ctx, reg)
		if err != nil {
			_ = reg.Close()
		}
	}
	switch {
	case err == nil:
		return reg, nil
	case errors.Is(err, registry.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return nil, unreachable(rawURL, timeout, err)
	case errors.Is(err, registry.ErrUnknownScheme):
		return nil, err
	}
	return nil, fmt.Errorf("registry %s: %w", redact(rawURL), err)
}

// waitHealthy waits, within ctx (the command's --timeout), until a backend that reports its
// health is connected. A registry opened while its server is down returns at once and
// connects in the background (the registry package's contract, which lets a service start
// without its registry); a command, unlike a service, has nothing to do until it is connected,
// and a watch would otherwise wait in silence on an empty list.
func waitHealthy(ctx context.Context, reg registry.Registry) error {
	hr, ok := reg.(registry.HealthReporter)
	if !ok {
		return nil
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !hr.Healthy() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: not connected: %w", registry.ErrUnavailable, ctx.Err())
		case <-tick.C:
		}
	}
	return nil
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
