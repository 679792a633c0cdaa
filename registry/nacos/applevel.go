package nacos

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/model"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/internal/nacosconn"
	"github.com/tianshu-go/tianshu/registry"
)

// MappingGroup is the config group in which Dubbo keeps the interface-application mapping:
// dataId <interface>, content the comma-separated application names.
const MappingGroup = "mapping"

// WithRegisterMode sets at which level WithDubboNaming registers providers (Dubbo's
// register-mode): dubbo.RegisterAll, the default as in Dubbo 3, registers the
// providers:<interface>:<version>:<group> instance and also an instance of the application
// (service <application>, in the Registry's group, DEFAULT_GROUP by default) with Dubbo's
// instance metadata, appends the application to the interface's mapping (config <interface>
// in group MappingGroup, with compare-and-set on its MD5), and serves the metadata (see
// DubboMetadata); dubbo.RegisterInterface registers the interface-level instance only, as
// before; dubbo.RegisterInstance the application level only. Without WithDubboNaming it has
// no effect. A value that is none of these makes New fail with ErrInvalidConfig.
func WithRegisterMode(m dubbo.RegisterMode) Option { return func(o *options) { o.registerMode = m } }

// appLevel is what WithDubboNaming keeps to register providers at application level.
type appLevel struct {
	servers []string
	started time.Time

	mu     sync.Mutex      // serialises the updates of the application instances
	apps   sync.Map        // application -> *dubbo.Announcer; read without mu by DubboMetadata
	mapped map[string]bool // by application + "\x00" + interface
	cfg    *nacosconn.ConfigClient
}

func newAppLevel(o *options, servers []string) *appLevel {
	if o.dubbo == nil || !o.registerMode.Instance() {
		return nil
	}
	return &appLevel{servers: servers, started: time.Now(), mapped: map[string]bool{}}
}

// close releases the config client the mapping was written with.
func (a *appLevel) close() {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cfg != nil {
		a.cfg.Release()
		a.cfg = nil
	}
}

// appEntry is the ID under which the Registry keeps the application instance at addr among
// the instances of the application's Nacos service.
func appEntry(addr string) string { return "dubbo-application@" + addr }

// dubboURL is the provider URL the interface-level instance stands for: Dubbo's parameters
// (dubboParams) and the instance's metadata, which wins.
func (o *options) dubboURL(in *registry.Instance) dubbo.URL {
	p := primary(in)
	params := o.dubboParams(in)
	maps.Copy(params, in.Metadata)
	return dubbo.URL{Protocol: params["protocol"], Host: p.Host, Port: p.Port, Path: in.Service, Params: params}
}

// registerApp announces in at application level: the application instance at its address,
// with the new revision, and the application in the interface's mapping.
func (r *Registry) registerApp(ctx context.Context, in *registry.Instance) error {
	if r.app == nil {
		return nil
	}
	u := r.o.dubboURL(in)
	app := u.Params[dubbo.KeyApplication]
	r.app.mu.Lock()
	defer r.app.mu.Unlock()
	var ann *dubbo.Announcer
	if v, ok := r.app.apps.Load(app); ok {
		ann = v.(*dubbo.Announcer)
	} else {
		var err error
		if ann, err = dubbo.NewAnnouncer(app, r.app.started); err != nil {
			return fmt.Errorf("%w: %w", registry.ErrInvalidInstance, err)
		}
		r.app.apps.Store(app, ann)
	}
	addrs, err := ann.Export(in.Service+"/"+in.ID, u)
	if err != nil {
		return fmt.Errorf("%w: %w", registry.ErrInvalidInstance, err)
	}
	var errs []error
	for _, addr := range addrs {
		errs = append(errs, r.syncAppInstance(ann, addr))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return r.mapApp(ctx, in.Service, app)
}

// deregisterApp withdraws in from application level: the instance at its address is
// updated, or removed with the last service there. The mapping keeps the application, as
// in Dubbo.
func (r *Registry) deregisterApp(in *registry.Instance) error {
	if r.app == nil {
		return nil
	}
	r.app.mu.Lock()
	defer r.app.mu.Unlock()
	var errs []error
	r.app.apps.Range(func(_, v any) bool {
		ann := v.(*dubbo.Announcer)
		if addr := ann.Unexport(in.Service + "/" + in.ID); addr != "" {
			errs = append(errs, r.syncAppInstance(ann, addr))
		}
		return true
	})
	return errors.Join(errs...)
}

// syncAppInstance makes Nacos hold the instance ann announces at addr, or none. The
// caller holds r.app.mu.
func (r *Registry) syncAppInstance(ann *dubbo.Announcer, addr string) error {
	k := svcKey{group: r.o.group, name: ann.App()}
	in, ok := ann.Instance(addr)
	if !ok {
		_, err := r.n.remove(k, r, appEntry(addr))
		return err
	}
	return r.n.put(k, r, appEntry(addr), model.Instance{
		Ip: in.Host, Port: uint64(in.Port), Weight: 1, Enable: true, Healthy: true, Ephemeral: true,
		ClusterName: r.o.cluster, Metadata: in.Metadata,
	})
}

// mapApp adds app to the mapping of iface as Dubbo's NacosMetadataReport does: read the
// config, append, and publish it with the MD5 of what was read as the compare-and-set
// ticket, then read it back (see tryMap); on a conflict, wait a random time below
// dubbo.MappingRetryWait and start over, at most dubbo.MappingRetries times, after which
// the error wraps dubbo.ErrMappingConflict. A failed read costs no attempt, only time,
// until ctx ends (the error then wraps registry.ErrUnavailable). The caller holds
// r.app.mu.
func (r *Registry) mapApp(ctx context.Context, iface, app string) error {
	mk := app + "\x00" + iface
	if r.app.mapped[mk] {
		return nil
	}
	if r.app.cfg == nil {
		cfg, err := nacosconn.AcquireConfig(ctx, r.o.settings(), r.app.servers)
		if err != nil {
			return fmt.Errorf("nacos: config client for the mapping of %s: %w", iface, err)
		}
		r.app.cfg = cfg
	}
	for attempt := 0; attempt <= dubbo.MappingRetries; attempt++ {
		if attempt > 0 {
			time.Sleep(rand.N(dubbo.MappingRetryWait))
		}
		ok, err := r.tryMap(iface, app)
		if errors.Is(err, errMappingRead) {
			// The SDK limits reads of one dataId to a few a second, and fails the others:
			// not a conflict, so it costs no attempt, only time.
			if ctx.Err() != nil {
				return fmt.Errorf("nacos: add application %q to the mapping of %s: %w: %w", app, iface, registry.ErrUnavailable, err)
			}
			attempt--
			time.Sleep(dubbo.MappingRetryWait)
			continue
		}
		if err != nil {
			return err
		}
		if ok {
			r.app.mapped[mk] = true
			return nil
		}
	}
	return fmt.Errorf("nacos: add application %q to the mapping of %s: %w (after %d attempts)", app, iface, dubbo.ErrMappingConflict, dubbo.MappingRetries+1)
}

// errMappingRead is tryMap's error when the mapping could not be read.
var errMappingRead = errors.New("nacos: reading the mapping failed")

// tryMap makes one compare-and-set attempt; false, nil means another writer came first.
func (r *Registry) tryMap(iface, app string) (bool, error) {
	cli := r.app.cfg.Cli
	// A dataId that does not exist reads as "" without error; an error is no content to
	// append to, or the publish would drop every name the mapping holds.
	cur, err := cli.GetConfig(vo.ConfigParam{DataId: iface, Group: MappingGroup})
	if err != nil {
		return false, fmt.Errorf("%w: %w", errMappingRead, err)
	}
	next, changed, err := dubbo.AppendMapping(cur, app)
	if err != nil {
		return false, fmt.Errorf("%w: %w", registry.ErrInvalidInstance, err)
	}
	if !changed {
		return true, nil
	}
	sum := md5.Sum([]byte(cur))
	ok, err := cli.PublishConfig(vo.ConfigParam{DataId: iface, Group: MappingGroup, Content: next, CasMd5: hex.EncodeToString(sum[:])})
	if err != nil && errors.Is(classify(err), registry.ErrUnavailable) {
		return false, fmt.Errorf("nacos: publish the mapping of %s: %w", iface, classify(err))
	}
	if err != nil || !ok {
		// A lost compare-and-set comes back as an error from the server.
		r.o.log.Debug("nacos: mapping compare-and-set refused; retrying", "interface", iface, "application", app, "err", err)
		return false, nil
	}
	// Not every server honours the ticket: rnacos (0.8) publishes whatever casMd5 says, so
	// a writer that read before this publish can still overwrite it. Such a write lands
	// within a round trip of its read; reading back after a pause finds it, and the loop
	// appends again.
	time.Sleep(dubbo.MappingRetryWait)
	now, err := cli.GetConfig(vo.ConfigParam{DataId: iface, Group: MappingGroup})
	if err != nil {
		return false, nil
	}
	return slices.Contains(dubbo.ParseMapping(now), app), nil
}

// DubboMetadata returns the metadata of the given revision of an application this Registry
// announces (or announced shortly before), for the provider's MetadataServiceV2: rpc.NewServer
// serves it on the provider's own port when the server's registrar is this Registry.
func (r *Registry) DubboMetadata(revision string) (dubbo.MetadataInfo, bool) {
	if r.app == nil {
		return dubbo.MetadataInfo{}, false
	}
	var md dubbo.MetadataInfo
	var found bool
	r.app.apps.Range(func(_, v any) bool {
		md, found = v.(*dubbo.Announcer).MetadataInfo(revision)
		return !found
	})
	return md, found
}

// DubboApplicationLevel reports whether the Registry registers providers at Dubbo's
// application level: WithDubboNaming with a register mode of all (the default) or instance.
func (r *Registry) DubboApplicationLevel() bool { return r.app != nil }
