package nacos

import (
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/clients/naming_client"
	"github.com/nacos-group/nacos-sdk-go/v2/model"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"

	"github.com/tianshu-go/tianshu/internal/backoff"
	"github.com/tianshu-go/tianshu/internal/nacosconn"
	"github.com/tianshu-go/tianshu/registry"
)

// svcKey names a Nacos service within the client's namespace.
type svcKey struct{ group, name string }

// namingClient is one shared SDK naming client plus what Tianshu keeps beside it:
//
//   - every instance registered through it, per Nacos service, because Nacos 2 binds
//     registrations to the connection and keeps one registration per service and connection:
//     a second RegisterInstance replaces the first. Tianshu always sends the whole set of the
//     process's instances of a service with BatchRegisterInstance;
//   - one SDK subscription per service, fanned out to any number of watchers, because the
//     SDK's Unsubscribe drops the subscription (and the cache) of every other subscriber of
//     the service, and its callback is skipped when a list equals its cache.
type namingClient struct {
	key   nacosconn.Key
	refs  int // guarded by pool
	cli   naming_client.INamingClient
	log   *slog.Logger
	retry backoff.Policy

	mu       sync.Mutex
	services map[svcKey]*svcRegs
	subs     map[subKey]*subscription

	kick chan struct{} // wakes the re-registration loop
	stop chan struct{}
	done chan struct{}

	pushPorts []int // the SDK's UDP push receiver, to stop after CloseClient
}

// svcRegs are this process's instances of one Nacos service.
type svcRegs struct {
	mu      sync.Mutex // serialises the SDK calls for this service
	entries map[string]regEntry
	sent    map[string]model.Instance // what the server holds from us, by ip:port:cluster
	dirty   bool                      // the last attempt to reach the server failed
}

type regEntry struct {
	owner *Registry
	inst  model.Instance
}

func addrKey(h model.Instance) string {
	return h.Ip + ":" + strconv.FormatUint(h.Port, 10) + ":" + h.ClusterName
}

func newNamingClient(key nacosconn.Key, cli naming_client.INamingClient, o *options) *namingClient {
	n := &namingClient{
		key: key, refs: 1, cli: cli, log: o.log, retry: o.retry,
		services: map[svcKey]*svcRegs{},
		subs:     map[subKey]*subscription{},
		kick:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go n.reregister()
	return n
}

func (n *namingClient) regs(k svcKey) *svcRegs {
	n.mu.Lock()
	defer n.mu.Unlock()
	s, ok := n.services[k]
	if !ok {
		s = &svcRegs{entries: map[string]regEntry{}, sent: map[string]model.Instance{}}
		n.services[k] = s
	}
	return s
}

// put records an instance and sends the service's full set to the server. If that fails the
// instance stays recorded and the re-registration loop keeps trying.
func (n *namingClient) put(k svcKey, owner *Registry, id string, inst model.Instance) error {
	s := n.regs(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.entries[id]; ok && prev.owner != owner {
		return fmt.Errorf("%w: instance %q of %q is registered through another Registry of this process", registry.ErrInvalidInstance, id, k.name)
	}
	for oid, e := range s.entries {
		if oid != id && addrKey(e.inst) == addrKey(inst) {
			return fmt.Errorf("%w: instance %q of %q has the address %s of instance %q; Nacos keeps one instance per ip:port and cluster",
				registry.ErrInvalidInstance, id, k.name, addrKey(inst), oid)
		}
	}
	s.entries[id] = regEntry{owner: owner, inst: inst}
	return n.syncLocked(k, s)
}

// remove forgets an instance registered by owner and updates the server. It reports false
// when there was nothing to remove.
func (n *namingClient) remove(k svcKey, owner *Registry, id string) (bool, error) {
	s := n.regs(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[id]; !ok || e.owner != owner {
		return false, nil
	}
	delete(s.entries, id)
	return true, n.syncLocked(k, s)
}

// syncLocked makes the server hold exactly s.entries: it deregisters the addresses no entry
// has any more, then batch-registers the rest. s.mu is held.
func (n *namingClient) syncLocked(k svcKey, s *svcRegs) error {
	want := make(map[string]model.Instance, len(s.entries))
	list := make([]model.Instance, 0, len(s.entries))
	for _, e := range s.entries {
		want[addrKey(e.inst)] = e.inst
		list = append(list, e.inst)
	}
	var firstErr error
	fail := func(err error) {
		if firstErr == nil {
			firstErr = classify(err)
		}
	}
	for ak, h := range s.sent {
		if _, keep := want[ak]; keep {
			continue
		}
		ok, err := n.cli.DeregisterInstance(vo.DeregisterInstanceParam{
			Ip: h.Ip, Port: h.Port, Cluster: h.ClusterName, ServiceName: k.name, GroupName: k.group,
			Ephemeral: true, // false would send the request over HTTP, for persistent instances
		})
		if err == nil && !ok {
			err = errRefused
		}
		if err != nil {
			fail(err)
			continue
		}
		delete(s.sent, ak)
	}
	if len(list) > 0 {
		ok, err := n.cli.BatchRegisterInstance(vo.BatchRegisterInstanceParam{ServiceName: k.name, GroupName: k.group, Instances: toParams(list)})
		if err == nil && !ok {
			err = errRefused
		}
		if err != nil {
			fail(err)
		} else {
			for ak, h := range want {
				s.sent[ak] = h
			}
		}
	}
	s.dirty = firstErr != nil
	if s.dirty {
		select {
		case n.kick <- struct{}{}:
		default:
		}
		return fmt.Errorf("nacos: update %s@@%s (retrying in the background): %w", k.group, k.name, firstErr)
	}
	return nil
}

func toParams(list []model.Instance) []vo.RegisterInstanceParam {
	out := make([]vo.RegisterInstanceParam, len(list))
	for i, h := range list {
		out[i] = vo.RegisterInstanceParam{
			Ip: h.Ip, Port: h.Port, Weight: h.Weight, Enable: h.Enable, Healthy: h.Healthy,
			Metadata: h.Metadata, ClusterName: h.ClusterName, Ephemeral: h.Ephemeral,
		}
	}
	return out
}

// reregister retries the services whose last update failed, with capped, jittered backoff,
// until each succeeds. Between failures it sleeps; it never polls a healthy client.
func (n *namingClient) reregister() {
	defer close(n.done)
	for {
		select {
		case <-n.kick:
		case <-n.stop:
			return
		}
		for attempt := 0; ; attempt++ {
			t := time.NewTimer(n.retry.Delay(attempt))
			select {
			case <-t.C:
			case <-n.stop:
				t.Stop()
				return
			}
			if n.retryDirty() {
				break
			}
		}
	}
}

// retryDirty tries every dirty service once and reports whether all are clean now.
func (n *namingClient) retryDirty() bool {
	n.mu.Lock()
	keys := make([]svcKey, 0, len(n.services))
	for k := range n.services {
		keys = append(keys, k)
	}
	n.mu.Unlock()
	clean := true
	for _, k := range keys {
		s := n.regs(k)
		s.mu.Lock()
		if s.dirty {
			if err := n.syncLocked(k, s); err != nil {
				clean = false
				n.log.Warn("nacos: registration still failing; retrying", "service", k.name, "group", k.group, "err", err)
			} else {
				n.log.Info("nacos: registration restored", "service", k.name, "group", k.group)
			}
		}
		s.mu.Unlock()
	}
	return clean
}

// dropOwner removes every instance registered by owner and updates the server.
func (n *namingClient) dropOwner(owner *Registry) error {
	n.mu.Lock()
	keys := make([]svcKey, 0, len(n.services))
	for k := range n.services {
		keys = append(keys, k)
	}
	n.mu.Unlock()
	var firstErr error
	for _, k := range keys {
		s := n.regs(k)
		s.mu.Lock()
		changed := false
		for id, e := range s.entries {
			if e.owner == owner {
				delete(s.entries, id)
				changed = true
			}
		}
		if changed {
			if err := n.syncLocked(k, s); err != nil && firstErr == nil {
				firstErr = err
			}
		}
		s.mu.Unlock()
	}
	return firstErr
}

// shutdown stops the loop and closes the SDK client. The pool lock is held.
func (n *namingClient) shutdown() {
	close(n.stop)
	<-n.done
	n.mu.Lock()
	for _, sub := range n.subs {
		sub.mu.Lock()
		if sub.release != nil {
			sub.release.Stop()
		}
		sub.mu.Unlock()
		sub.bc.Close()
	}
	n.mu.Unlock()
	n.cli.CloseClient()
	for _, port := range n.pushPorts {
		if !stopPushReceiver(port) {
			n.log.Warn("nacos: the SDK's UDP push receiver did not stop; its goroutine stays blocked", "port", port)
		}
	}
}
