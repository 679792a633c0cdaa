package metadataservice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/dubbo/metadatapb"
	"github.com/tianshu-go/tianshu/internal/backoff"
)

// ErrInvalidCacheOption is returned by NewCache for an option that cannot work.
var ErrInvalidCacheOption = errors.New("metadataservice: invalid cache option")

// FetchFunc fetches the metadata of instance in's revision (in.Revision()) from in.
type FetchFunc func(ctx context.Context, in dubbo.AppInstance) (dubbo.MetadataInfo, error)

// DefaultCacheSize is how many revisions a Cache keeps unless WithCacheSize says otherwise.
const DefaultCacheSize = 256

// Cache is a consumer's store of provider applications' metadata by revision. It fetches
// the metadata of a revision once, from an instance that announces it, and shares it with
// every instance of that revision; an instance announcing a new revision makes it fetch that
// one. A failed fetch is logged once and retried with capped backoff from the instances of
// the revision, until one answers or no instance announces the revision any more; meanwhile
// those instances are left out, as a Dubbo consumer leaves them out. Its methods are safe for
// concurrent use. Close stops the fetches.
type Cache struct {
	fetch  FetchFunc
	policy backoff.Policy
	log    *slog.Logger
	size   int

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	known    map[revKey]*known
	tick     uint64 // use counter for the least-recently-used eviction
	fetchers map[revKey]*fetcher
	notify   map[string]func() // by application
}

type revKey struct{ app, revision string }

type known struct {
	info dubbo.MetadataInfo
	used uint64
}

// fetcher retries the fetch of one revision until it succeeds or is no longer wanted.
type fetcher struct {
	key        revKey
	candidates []dubbo.AppInstance // the instances announcing the revision, tried in turn
	next       int
	tried      bool // one attempt has finished
	cancel     context.CancelFunc
	logged     string // the last problem logged
}

// CacheOption configures NewCache.
type CacheOption func(*Cache)

// WithFetchFunc replaces how metadata is fetched; the default dials the instance's
// MetadataServiceV2 (dubbo.MetadataServiceAddr) over plaintext gRPC and calls Fetch.
func WithFetchFunc(f FetchFunc) CacheOption { return func(c *Cache) { c.fetch = f } }

// WithRetry sets the capped, jittered backoff between attempts of a failing fetch; the
// default is internal/backoff's, 100 ms growing to 10 s.
func WithRetry(base, max time.Duration) CacheOption {
	return func(c *Cache) { c.policy = backoff.Policy{Base: base, Max: max} }
}

// WithCacheSize sets how many revisions are kept; the least recently used go first.
func WithCacheSize(n int) CacheOption { return func(c *Cache) { c.size = n } }

// WithCacheLogger sets the logger of failed fetches; the default is slog.Default().
func WithCacheLogger(l *slog.Logger) CacheOption { return func(c *Cache) { c.log = l } }

// NewCache returns an empty Cache. Options that cannot work give ErrInvalidCacheOption.
func NewCache(opts ...CacheOption) (*Cache, error) {
	c := &Cache{fetch: FetchFrom, policy: backoff.Default, size: DefaultCacheSize, log: slog.Default()}
	for _, o := range opts {
		o(c)
	}
	switch {
	case c.fetch == nil:
		return nil, fmt.Errorf("%w: a nil FetchFunc", ErrInvalidCacheOption)
	case c.size < 1:
		return nil, fmt.Errorf("%w: cache size %d, want at least 1", ErrInvalidCacheOption, c.size)
	case c.policy.Base <= 0 || c.policy.Max < c.policy.Base:
		return nil, fmt.Errorf("%w: retry backoff %v..%v: want 0 < base <= max", ErrInvalidCacheOption, c.policy.Base, c.policy.Max)
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.known = map[revKey]*known{}
	c.fetchers = map[revKey]*fetcher{}
	c.notify = map[string]func(){}
	return c, nil
}

// Resolve is called with the current instances of application app, every time they change.
// It returns a lookup of the metadata known for their revisions (for
// dubbo.ResolveInstances), starts fetching the revisions not known and stops fetching those
// no instance announces any more. pending reports whether a fetch has not finished its
// first attempt yet. notify, which must not block, is called after a fetch of one of app's
// revisions succeeds or first fails; the caller then calls Resolve again.
func (c *Cache) Resolve(app string, instances []dubbo.AppInstance, notify func()) (lookup dubbo.MetadataLookup, pending bool) {
	byRev := map[string][]dubbo.AppInstance{}
	for _, in := range instances {
		if rev := in.Revision(); rev != "" && rev != dubbo.NoRevision && in.App == app {
			byRev[rev] = append(byRev[rev], in)
		}
	}
	found := make(map[string]dubbo.MetadataInfo, len(byRev))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx.Err() != nil {
		return lookupIn(app, found), false
	}
	c.notify[app] = notify
	for rev, ins := range byRev {
		k := revKey{app, rev}
		if kn, ok := c.known[k]; ok {
			c.tick++
			kn.used = c.tick
			found[rev] = kn.info
			continue
		}
		f := c.fetchers[k]
		if f == nil {
			ctx, cancel := context.WithCancel(c.ctx)
			f = &fetcher{key: k, cancel: cancel}
			c.fetchers[k] = f
			c.wg.Add(1)
			go c.run(ctx, f)
		}
		f.candidates = ins
		pending = pending || !f.tried
	}
	for k, f := range c.fetchers {
		if _, wanted := byRev[k.revision]; k.app == app && !wanted {
			f.cancel()
			delete(c.fetchers, k)
		}
	}
	if len(byRev) == 0 {
		delete(c.notify, app)
	}
	return lookupIn(app, found), pending
}

func lookupIn(app string, found map[string]dubbo.MetadataInfo) dubbo.MetadataLookup {
	return func(a, rev string) (dubbo.MetadataInfo, bool) {
		m, ok := found[rev]
		return m, ok && a == app
	}
}

// Get returns the metadata of an application's revision if it is known.
func (c *Cache) Get(app, revision string) (dubbo.MetadataInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	kn, ok := c.known[revKey{app, revision}]
	if !ok {
		return dubbo.MetadataInfo{}, false
	}
	return kn.info, true
}

// Close stops every fetch and waits for them; Resolve then fetches nothing more.
func (c *Cache) Close() {
	c.cancel()
	c.wg.Wait()
}

// run fetches f's revision from its candidates in turn until one answers or f is cancelled.
func (c *Cache) run(ctx context.Context, f *fetcher) {
	defer c.wg.Done()
	for attempt := 0; ; attempt++ {
		c.mu.Lock()
		if len(f.candidates) == 0 || ctx.Err() != nil {
			c.mu.Unlock()
			return
		}
		in := f.candidates[f.next%len(f.candidates)]
		f.next++
		c.mu.Unlock()

		info, err := c.fetch(ctx, in)
		if err == nil && info.App != f.key.app {
			err = fmt.Errorf("%w: asked %s for application %q, got %q", ErrFetch, in.ID, f.key.app, info.App)
		}
		if ctx.Err() != nil {
			return
		}
		c.mu.Lock()
		first := !f.tried
		f.tried = true
		if err == nil {
			c.storeLocked(f.key, info)
			if c.fetchers[f.key] == f {
				delete(c.fetchers, f.key)
			}
			if f.logged != "" {
				c.log.Info("metadataservice: fetched the metadata of a revision after failures",
					"app", f.key.app, "revision", f.key.revision, "instance", in.ID)
			}
		} else if msg := err.Error(); msg != f.logged {
			// Logged once per distinct problem: a provider that stays unreachable costs one
			// line, not one per retry.
			f.logged = msg
			c.log.Warn("metadataservice: cannot fetch the metadata of a revision; its instances are left out until it can be fetched",
				"app", f.key.app, "revision", f.key.revision, "instance", in.ID, "err", err)
		}
		notify := c.notify[f.key.app]
		c.mu.Unlock()
		if (err == nil || first) && notify != nil {
			notify()
		}
		if err == nil || !backoff.Sleep(ctx, c.policy.Delay(attempt)) {
			return
		}
	}
}

// storeLocked keeps info, evicting the least recently used revision beyond the size.
func (c *Cache) storeLocked(k revKey, info dubbo.MetadataInfo) {
	c.tick++
	c.known[k] = &known{info: info, used: c.tick}
	for len(c.known) > c.size {
		var oldest revKey
		first := true
		for k, kn := range c.known {
			if first || kn.used < c.known[oldest].used {
				oldest, first = k, false
			}
		}
		delete(c.known, oldest)
	}
}

// FetchFrom is the default FetchFunc: it dials the instance's MetadataServiceV2
// (dubbo.MetadataServiceAddr) over plaintext gRPC, as a Java Triple provider serves it, and
// calls Fetch. Errors wrap dubbo.ErrUnsupportedMetadata or dubbo.ErrInvalidInstance when the
// instance's metadata says no such service can be called, and Fetch's errors otherwise.
func FetchFrom(ctx context.Context, in dubbo.AppInstance) (dubbo.MetadataInfo, error) {
	addr, err := dubbo.MetadataServiceAddr(in)
	if err != nil {
		return dubbo.MetadataInfo{}, err
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return dubbo.MetadataInfo{}, fmt.Errorf("%w: revision %q of application %q at %s: %w", ErrFetch, in.Revision(), in.App, addr, err)
	}
	defer conn.Close()
	pb, err := Fetch(ctx, conn, in.App, in.Revision())
	if err != nil {
		return dubbo.MetadataInfo{}, err
	}
	return FromProto(pb), nil
}

// FromProto returns the MetadataInfo a MetadataServiceV2 answer describes.
func FromProto(pb *metadatapb.MetadataInfoV2) dubbo.MetadataInfo {
	services := make([]dubbo.ServiceInfo, 0, len(pb.GetServices()))
	for _, s := range pb.GetServices() {
		services = append(services, dubbo.ServiceInfo{
			Name: s.GetName(), Group: s.GetGroup(), Version: s.GetVersion(), Protocol: s.GetProtocol(),
			Port: int(s.GetPort()), Path: s.GetPath(), Params: s.GetParams(),
		})
	}
	return dubbo.NewMetadataInfo(pb.GetApp(), services...)
}

// ToProto returns the MetadataServiceV2 answer that describes md as revision, the revision
// the provider announces for it; FromProto reads it back.
func ToProto(md dubbo.MetadataInfo, revision string) *metadatapb.MetadataInfoV2 {
	out := &metadatapb.MetadataInfoV2{App: md.App, Version: revision, Services: make(map[string]*metadatapb.ServiceInfoV2, len(md.Services))}
	for k, s := range md.Services {
		out.Services[k] = &metadatapb.ServiceInfoV2{
			Name: s.Name, Group: s.Group, Version: s.Version, Protocol: s.Protocol,
			Port: int32(s.Port), Path: s.Path, Params: s.Params,
		}
	}
	return out
}
