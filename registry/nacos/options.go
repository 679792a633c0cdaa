package nacos

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/internal/backoff"
	"github.com/tianshu-go/tianshu/internal/nacosconn"
)

// Errors of this package, wrapped with details; test for them with errors.Is. Registry
// methods also return the registry package's errors (ErrInvalidInstance, ErrUnavailable,
// ErrClosed).
var (
	// ErrInvalidConfig: an option, URL or server address is malformed.
	ErrInvalidConfig = nacosconn.ErrInvalidConfig
	// ErrUnauthorized: the server refused the username and password, or a request for lack
	// of them.
	ErrUnauthorized = nacosconn.ErrUnauthorized
)

// Option configures New (and ConfigOptions, for config/nacos).
type Option func(*options)

type options struct {
	namespace    string
	group        string
	cluster      string
	clusters     []string // the clusters consumers list; nil: all
	username     string
	password     string
	dir          string
	timeout      time.Duration
	sdkLevel     string
	log          *slog.Logger
	retry        backoff.Policy
	dubbo        *dubboNaming
	appName      string
	registerMode dubbo.RegisterMode
	dirDefault   bool
	poll         time.Duration

	dubboConsumers bool                // list rpc.WithDubbo connections as Dubbo consumers (consumers.go)
	discovery      dubbo.DiscoveryMode // WithDubboDiscovery, appdiscover.go
}

func defaults() options {
	return options{
		namespace: DefaultNamespace,
		group:     DefaultGroup,
		cluster:   DefaultCluster,
		timeout:   3 * time.Second,
		sdkLevel:  "warn",
		log:       slog.Default(),
		retry:     backoff.Policy{Base: 200 * time.Millisecond, Max: 10 * time.Second},
		poll:      10 * time.Second,
	}
}

// WithNamespace selects the Nacos namespace by its ID; the default is "public".
func WithNamespace(id string) Option { return func(o *options) { o.namespace = id } }

// WithGroup selects the Nacos group of services (and, through ConfigOptions, of dataIds);
// the default is DEFAULT_GROUP.
func WithGroup(g string) Option { return func(o *options) { o.group = g } }

// WithCluster sets the cluster instances are registered in; the default is DEFAULT.
// Consumers list instances of every cluster unless told otherwise by WithClusters.
func WithCluster(c string) Option { return func(o *options) { o.cluster = c } }

// WithClusters makes GetService and Watch list only the instances registered in the named
// clusters (an instance registered without one is in DEFAULT), as a Nacos Java consumer
// subscribing with a cluster list does: for example, a consumer that calls its own data
// centre only. The default lists every cluster.
func WithClusters(clusters ...string) Option {
	return func(o *options) { o.clusters = append(o.clusters, clusters...) }
}

// WithAuth logs in with a username and password. Wrong credentials make New
// fail with ErrUnauthorized when the server is reachable.
func WithAuth(username, password string) Option {
	return func(o *options) { o.username, o.password = username, password }
}

// WithDir sets the directory under which the Nacos SDK keeps its cache (dir/cache). The
// default is tianshu/nacos under os.UserCacheDir, or under os.TempDir when the user has no
// cache directory; never the working directory nor the binary's, where the SDK writes by
// default.
func WithDir(dir string) Option { return func(o *options) { o.dir = dir } }

// WithTimeout bounds each request to the server; the default is 3 s.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithSDKLogLevel sets the lowest level of the SDK's own messages passed on: debug, info,
// warn (the default) or error. They go to the logger (WithLogger) at debug level, with the
// attributes from=nacos-sdk and sdk_level.
func WithSDKLogLevel(level string) Option { return func(o *options) { o.sdkLevel = level } }

// WithLogger sets the logger for Tianshu's messages about Nacos; the default is
// slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithRetry sets the backoff between attempts to register instances again after a failure;
// the default grows from 200 ms to 10 s, with jitter.
func WithRetry(base, max time.Duration) Option {
	return func(o *options) { o.retry = backoff.Policy{Base: base, Max: max} }
}

// WithConfigPoll sets, through ConfigOptions, how often a config/nacos Source's watcher reads
// its dataIds again although no change was notified (config/nacos.WithPoll); the default is 10
// s, zero turns it off. Servers do not all notify a deleted dataId (rnacos 0.8 does not), and
// a notification lost in a reconnect would otherwise go unseen until the next change.
func WithConfigPoll(d time.Duration) Option { return func(o *options) { o.poll = d } }

// WithApplication names the application, sent as Dubbo's "application" parameter under
// WithDubboNaming.
func WithApplication(name string) Option { return func(o *options) { o.appName = name } }

// defaultDir is where the SDK's files go when WithDir is not given.
func defaultDir() string { return nacosconn.DefaultDir() }

func (o *options) validate() error {
	if o.dir == "" {
		o.dir, o.dirDefault = defaultDir(), true
	}
	if !filepath.IsAbs(o.dir) {
		abs, err := filepath.Abs(o.dir)
		if err != nil {
			return fmt.Errorf("%w: directory %q: %w", ErrInvalidConfig, o.dir, err)
		}
		o.dir = abs
	}
	if o.namespace == "" {
		o.namespace = DefaultNamespace
	}
	if err := o.registerMode.Check(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if o.timeout <= 0 {
		return fmt.Errorf("%w: timeout %v must be positive", ErrInvalidConfig, o.timeout)
	}
	if o.group == "" {
		o.group = DefaultGroup
	}
	if o.cluster == "" {
		o.cluster = DefaultCluster
	}
	for _, c := range o.clusters {
		if c == "" || strings.ContainsAny(c, ", ") {
			return fmt.Errorf("%w: cluster name %q in WithClusters: want a non-empty name without commas or spaces", ErrInvalidConfig, c)
		}
	}
	slices.Sort(o.clusters)
	o.clusters = slices.Compact(o.clusters)
	switch o.sdkLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("%w: SDK log level %q: want debug, info, warn or error", ErrInvalidConfig, o.sdkLevel)
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	return o.checkDiscovery()
}
