package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/registry"
)

// ServicesRoot is the node under which Dubbo 3 keeps application instances,
// /services/<application>/<host:port> (Dubbo's default service-discovery group).
const ServicesRoot = "/services"

// WithRegisterMode sets at which level the Dubbo layout registers providers (Dubbo's
// register-mode): dubbo.RegisterAll, the default as in Dubbo 3, writes the interface-level
// provider URL and also the application instance, the interface-application mapping, and
// serves the metadata (see DubboMetadata); dubbo.RegisterInterface writes the provider URL
// only, as before; dubbo.RegisterInstance the application level only. Without LayoutDubbo
// it has no effect. A value that is none of these makes New fail with ErrInvalidConfig.
func WithRegisterMode(m dubbo.RegisterMode) Option { return func(o *options) { o.registerMode = m } }

// appLevel is what the Dubbo layout keeps to register providers at application level: one
// Announcer per application (the application of a provider URL is Publish.Application,
// else the service name, as in dubbo.FromInstance), and the interfaces whose mapping lists
// the application already.
type appLevel struct {
	started time.Time

	mu     sync.Mutex
	apps   map[string]*dubbo.Announcer
	mapped map[string]bool // by application + "\x00" + interface
}

func newAppLevel(o *options) *appLevel {
	if o.layout != LayoutDubbo || !o.registerMode.Instance() {
		return nil
	}
	return &appLevel{started: time.Now(), apps: map[string]*dubbo.Announcer{}, mapped: map[string]bool{}}
}

func (a *appLevel) announcer(app string) (*dubbo.Announcer, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ann, ok := a.apps[app]
	if !ok {
		var err error
		if ann, err = dubbo.NewAnnouncer(app, a.started); err != nil {
			return nil, fmt.Errorf("%w: %w", registry.ErrInvalidInstance, err)
		}
		a.apps[app] = ann
	}
	return ann, nil
}

// appKey is the key of an application instance's node among the Registry's own nodes; it
// starts with a slash, which no service name does.
func appKey(app, addr string) string { return ServicesRoot + "/" + app + "/" + addr }

// registerApp announces in at application level (the caller holds ownMu): it updates the
// instance node of its address, which the keeper re-creates in every new session like the
// provider nodes, and adds the application to the interface's mapping.
func (r *Registry) registerApp(in *registry.Instance, ready bool) error {
	if r.app == nil {
		return nil
	}
	u, err := dubbo.FromInstance(in, r.opts.publish)
	if err != nil {
		return err
	}
	app := u.Params[dubbo.KeyApplication]
	ann, err := r.app.announcer(app)
	if err != nil {
		return err
	}
	addrs, err := ann.Export(in.Service+"/"+in.ID, u)
	if err != nil {
		return fmt.Errorf("%w: %w", registry.ErrInvalidInstance, err)
	}
	var errs []error
	for _, addr := range addrs {
		errs = append(errs, r.syncAppNode(ann, addr, ready))
	}
	if ready {
		errs = append(errs, r.mapApp(in.Service, app))
	}
	return errors.Join(errs...)
}

// deregisterApp withdraws in from application level (the caller holds ownMu): the instance
// node of its address is rewritten without it, or deleted with the last service there. The
// mapping keeps the application, as in Dubbo: another instance may still serve the
// interface.
func (r *Registry) deregisterApp(in *registry.Instance, ready bool) error {
	if r.app == nil {
		return nil
	}
	r.app.mu.Lock()
	anns := make([]*dubbo.Announcer, 0, len(r.app.apps))
	for _, ann := range r.app.apps {
		anns = append(anns, ann)
	}
	r.app.mu.Unlock()
	var errs []error
	for _, ann := range anns {
		if addr := ann.Unexport(in.Service + "/" + in.ID); addr != "" {
			errs = append(errs, r.syncAppNode(ann, addr, ready))
		}
	}
	return errors.Join(errs...)
}

// syncAppNode makes the Registry's own nodes hold the instance ann announces at addr, or
// none, and when ready writes that to ZooKeeper at once. The caller holds ownMu.
func (r *Registry) syncAppNode(ann *dubbo.Announcer, addr string, ready bool) error {
	key := appKey(ann.App(), addr)
	p := key
	in, ok := ann.Instance(addr)
	if !ok {
		delete(r.own, key)
		r.gone[p] = true
		if !ready {
			return nil
		}
		if err := r.conn.Delete(p, -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
			return r.wrapErr("delete", p, err)
		}
		delete(r.gone, p)
		return nil
	}
	data, err := in.MarshalCurator()
	if err != nil {
		return fmt.Errorf("%w: %w", registry.ErrInvalidInstance, err)
	}
	n := &ownNode{path: p, data: data}
	r.own[key] = n
	delete(r.gone, p)
	if !ready {
		return nil
	}
	return r.ensureNode(n, r.conn.SessionID())
}

// mapApp adds app to the mapping of iface, /dubbo/mapping/<iface> (under the root), as
// Dubbo's MetadataServiceNameMapping does: read the node and its version, append, and set
// it only if the version is unchanged (or create it only if it is still missing); on a
// conflict, wait a random time below dubbo.MappingRetryWait and start over, at most
// dubbo.MappingRetries times, after which the error wraps dubbo.ErrMappingConflict. A
// mapping written once is not written again by this Registry.
func (r *Registry) mapApp(iface, app string) error {
	mk := app + "\x00" + iface
	r.app.mu.Lock()
	done := r.app.mapped[mk]
	r.app.mu.Unlock()
	if done {
		return nil
	}
	p := r.opts.root + "/mapping/" + iface
	for attempt := 0; attempt <= dubbo.MappingRetries; attempt++ {
		if attempt > 0 {
			time.Sleep(rand.N(dubbo.MappingRetryWait))
		}
		ok, err := r.tryMap(p, app)
		if err != nil {
			return err
		}
		if ok {
			r.app.mu.Lock()
			r.app.mapped[mk] = true
			r.app.mu.Unlock()
			return nil
		}
	}
	return fmt.Errorf("zookeeper: add application %q to %s: %w (after %d attempts)", app, p, dubbo.ErrMappingConflict, dubbo.MappingRetries+1)
}

// tryMap makes one compare-and-set attempt; false, nil means another writer came first.
func (r *Registry) tryMap(p, app string) (bool, error) {
	data, st, err := r.conn.Get(p)
	if errors.Is(err, zk.ErrNoNode) {
		next, _, err := dubbo.AppendMapping("", app)
		if err != nil {
			return false, fmt.Errorf("%w: %w", registry.ErrInvalidInstance, err)
		}
		if err := r.ensureParents(path.Dir(p)); err != nil {
			return false, err
		}
		_, err = r.conn.Create(p, []byte(next), 0, r.acl)
		if errors.Is(err, zk.ErrNodeExists) {
			return false, nil
		}
		return err == nil, r.wrapErr("create", p, err)
	}
	if err != nil {
		return false, r.wrapErr("read", p, err)
	}
	next, changed, err := dubbo.AppendMapping(string(data), app)
	if err != nil {
		return false, fmt.Errorf("%w: %w", registry.ErrInvalidInstance, err)
	}
	if !changed {
		return true, nil
	}
	_, err = r.conn.Set(p, []byte(next), st.Version)
	if errors.Is(err, zk.ErrBadVersion) || errors.Is(err, zk.ErrNoNode) {
		return false, nil
	}
	return err == nil, r.wrapErr("update", p, err)
}

// DubboMetadata returns the metadata of the given revision of an application this Registry
// announces (or announced shortly before), for the provider's MetadataServiceV2: rpc.NewServer
// serves it on the provider's own port when the server's registrar is this Registry.
func (r *Registry) DubboMetadata(revision string) (dubbo.MetadataInfo, bool) {
	if r.app == nil {
		return dubbo.MetadataInfo{}, false
	}
	r.app.mu.Lock()
	defer r.app.mu.Unlock()
	for _, ann := range r.app.apps {
		if md, ok := ann.MetadataInfo(revision); ok {
			return md, true
		}
	}
	return dubbo.MetadataInfo{}, false
}

// DubboApplicationLevel reports whether the Registry registers providers at Dubbo's
// application level: LayoutDubbo with a register mode of all (the default) or instance.
func (r *Registry) DubboApplicationLevel() bool { return r.app != nil }

// registerAppOnly is Register in dubbo.RegisterInstance mode: the application level alone.
// The caller holds ownMu.
func (r *Registry) registerAppOnly(ctx context.Context, in *registry.Instance) error {
	if err := r.waitReady(ctx); err != nil {
		if errors.Is(err, registry.ErrClosed) {
			return err
		}
		if aerr := r.registerApp(in, false); aerr != nil {
			return aerr
		}
		return fmt.Errorf("zookeeper: register %q of %q (kept, to be created once connected): %w", in.ID, in.Service, err)
	}
	return r.registerApp(in, true)
}
