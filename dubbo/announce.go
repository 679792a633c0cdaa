package dubbo

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"
)

var (
	// ErrInvalidRegisterMode is wrapped by ParseRegisterMode's error, and by the backends'
	// errors for a register mode they do not know.
	ErrInvalidRegisterMode = errors.New("dubbo: invalid register mode")
	// ErrMappingConflict is wrapped by a backend's error when other writers kept changing an
	// interface's mapping for MappingRetries attempts in a row, so that the application
	// could not add itself.
	ErrMappingConflict = errors.New("dubbo: the interface-application mapping kept changing under us")
)

// Dubbo's defaults for appending to a mapping (dubbo.metadata-report.cas-retry-times and
// cas-retry-wait-time): a writer that lost the compare-and-set waits a random time below
// MappingRetryWait and tries again, at most MappingRetries times.
const (
	MappingRetries   = 10
	MappingRetryWait = 100 * time.Millisecond
)

// RegisterMode says at which level a provider registers, as Dubbo's register-mode does.
type RegisterMode int

const (
	// RegisterAll registers at both levels, Dubbo 3's default: Dubbo 2 consumers and
	// Dubbo 3 consumers in any migration step find the provider.
	RegisterAll RegisterMode = iota
	// RegisterInterface registers the interface-level provider URLs only, as Dubbo 2 did. A
	// Dubbo 3 consumer in FORCE_APPLICATION does not find the provider, and one in
	// APPLICATION_FIRST (the default) ignores it as soon as any provider of the interface
	// registers at application level.
	RegisterInterface
	// RegisterInstance registers the application instance and the mapping only.
	RegisterInstance
)

// String returns the value of Dubbo's register-mode: all, interface or instance.
func (m RegisterMode) String() string {
	switch m {
	case RegisterAll:
		return "all"
	case RegisterInterface:
		return "interface"
	case RegisterInstance:
		return "instance"
	}
	return "RegisterMode(" + strconv.Itoa(int(m)) + ")"
}

// Interface reports whether the mode registers interface-level provider URLs.
func (m RegisterMode) Interface() bool { return m == RegisterAll || m == RegisterInterface }

// Instance reports whether the mode registers the application instance and the mapping.
func (m RegisterMode) Instance() bool { return m == RegisterAll || m == RegisterInstance }

// Check returns an error wrapping ErrInvalidRegisterMode for a value that is none of the
// constants.
func (m RegisterMode) Check() error {
	if m < RegisterAll || m > RegisterInstance {
		return fmt.Errorf("%w: %v", ErrInvalidRegisterMode, m)
	}
	return nil
}

// ParseRegisterMode reads Dubbo's register-mode value: all, interface or instance. Anything
// else gives an error wrapping ErrInvalidRegisterMode.
func ParseRegisterMode(s string) (RegisterMode, error) {
	for _, m := range []RegisterMode{RegisterAll, RegisterInterface, RegisterInstance} {
		if s == m.String() {
			return m, nil
		}
	}
	return 0, fmt.Errorf("%w %q: want all, interface or instance", ErrInvalidRegisterMode, s)
}

// Announcer keeps what a provider application announces at Dubbo's application level: for
// each address (host:port) it serves on, the services exported there, their MetadataInfo
// and its revision, and the AppInstance that names that revision. A backend tells it which
// services it registers and unregisters, writes the instances it returns, and the provider
// serves the metadata of a revision (MetadataInfo) over MetadataServiceV2. It does no I/O.
// Its methods are safe for concurrent use.
type Announcer struct {
	app     string
	started time.Time

	mu      sync.Mutex
	addrs   map[string]*announced   // by host:port
	where   map[string]string       // service key -> address
	byRev   map[string]MetadataInfo // every revision announced now, and a few retired ones
	retired []string                // revisions no address announces, oldest first
}

// keptRevisions bounds how many revisions no longer announced are still served, for the
// consumer that read the registry just before the revision changed.
const keptRevisions = 16

type announced struct {
	host     string
	port     int
	services map[string]exported // by service key
	rev      string
}

// exported is a service as its address announces it, worked out once when it is exported:
// every export at an address revises the revision of all its services, and a provider of
// many services exports them one by one.
type exported struct {
	info ServiceInfo
	desc string // info.descString()
}

// NewAnnouncer returns an Announcer for application app; started is the provider's start,
// the timestamp its instances announce and from which Dubbo's balancers warm them up. The
// error wraps ErrInvalidAppName when app cannot stand in the mapping.
func NewAnnouncer(app string, started time.Time) (*Announcer, error) {
	if err := checkAppName(app); err != nil {
		return nil, err
	}
	return &Announcer{
		app: app, started: started,
		addrs: map[string]*announced{}, where: map[string]string{}, byRev: map[string]MetadataInfo{},
	}, nil
}

// App returns the application name.
func (a *Announcer) App() string { return a.app }

// Export records that the service registered under key (for example the instance's service
// and ID) is exported as u, replacing what key exported before. It returns the addresses
// whose instance changed: u's, and the previous one when the service moved. The error wraps
// ErrInvalidInstance when u has no host or port.
func (a *Announcer) Export(key string, u URL) ([]string, error) {
	if u.Host == "" || u.Port < 1 || u.Port > 65535 {
		return nil, fmt.Errorf("%w %q: URL %s has no host and port to announce", ErrInvalidInstance, a.app, u)
	}
	addr := net.JoinHostPort(u.Host, strconv.Itoa(u.Port))
	a.mu.Lock()
	defer a.mu.Unlock()
	var affected []string
	if prev, ok := a.where[key]; ok && prev != addr {
		a.dropLocked(key, prev)
		affected = append(affected, prev)
	}
	at := a.addrs[addr]
	if at == nil {
		at = &announced{host: u.Host, port: u.Port, services: map[string]exported{}}
		a.addrs[addr] = at
	}
	info := ServiceInfoOf(u)
	at.services[key] = exported{info: info, desc: info.descString()}
	a.where[key] = addr
	a.reviseLocked(at)
	return append(affected, addr), nil
}

// Unexport forgets the service registered under key, and returns the address whose instance
// changed, or "" when key was not exported.
func (a *Announcer) Unexport(key string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	addr, ok := a.where[key]
	if !ok {
		return ""
	}
	a.dropLocked(key, addr)
	return addr
}

func (a *Announcer) dropLocked(key, addr string) {
	delete(a.where, key)
	at := a.addrs[addr]
	delete(at.services, key)
	if len(at.services) == 0 {
		delete(a.addrs, addr)
		a.retireLocked(at.rev)
		return
	}
	a.reviseLocked(at)
}

// reviseLocked computes the revision of at's services and keeps its metadata.
func (a *Announcer) reviseLocked(at *announced) {
	// As NewMetadataInfo would build it (a later service with the same match key replaces an
	// earlier one) and Revision compute it, from what each service's export worked out.
	md := MetadataInfo{App: a.app, Services: make(map[string]ServiceInfo, len(at.services))}
	descs := make(map[string]string, len(at.services))
	for _, k := range sortedJava(at.services) {
		e := at.services[k]
		mk := e.info.MatchKey()
		md.Services[mk] = e.info
		descs[mk] = e.desc
	}
	rev := revisionOf(a.app, descs)
	if rev == at.rev {
		return
	}
	old := at.rev
	at.rev = rev
	a.byRev[rev] = md
	if i := slices.Index(a.retired, rev); i >= 0 {
		a.retired = slices.Delete(a.retired, i, i+1)
	}
	a.retireLocked(old)
}

// retireLocked keeps rev's metadata for a while once no address announces it.
func (a *Announcer) retireLocked(rev string) {
	if rev == "" {
		return
	}
	for _, at := range a.addrs {
		if at.rev == rev {
			return
		}
	}
	a.retired = append(a.retired, rev)
	if len(a.retired) > keptRevisions {
		delete(a.byRev, a.retired[0])
		a.retired = a.retired[1:]
	}
}

// Instance returns the instance to announce at addr, and false when no service is exported
// there any more (its instance must go).
func (a *Announcer) Instance(addr string) (AppInstance, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	at := a.addrs[addr]
	if at == nil {
		return AppInstance{}, false
	}
	in, err := NewAppInstance(a.app, at.host, at.port, at.rev, a.started)
	if err != nil {
		return AppInstance{}, false // not reached: Export checked the address
	}
	in.Registered = a.started
	return in, true
}

// Addresses returns the addresses at which services are exported, sorted.
func (a *Announcer) Addresses() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, len(a.addrs))
	for addr := range a.addrs {
		out = append(out, addr)
	}
	slices.Sort(out)
	return out
}

// MetadataInfo returns the metadata whose revision is revision, as a consumer asks for it:
// that of an address announcing it now, or of one of the last revisions retired. The maps
// of the result are shared and must not be changed.
func (a *Announcer) MetadataInfo(revision string) (MetadataInfo, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	md, ok := a.byRev[revision]
	return md, ok
}
