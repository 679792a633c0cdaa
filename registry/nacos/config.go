package nacos

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/vo"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/registry"
)

// Source is a config.Source over Nacos configuration: a list of dataIds in one group of one
// namespace, each a document named by its dataId (give dataIds an extension such as .yaml
// so that the Config knows how to decode them). A missing dataId is simply absent from the
// snapshot. It shares its SDK client with other Sources of the same servers and settings.
type Source struct {
	o       options
	c       *configClient
	dataIDs []string

	closeOnce sync.Once
}

var _ config.Source = (*Source)(nil)

// NewSource returns a Source over dataIDs in the group set by WithGroup (default
// DEFAULT_GROUP) of the namespace set by WithNamespace. Options about registration (cluster,
// Dubbo naming) are ignored. Call Close when done.
func NewSource(ctx context.Context, servers []string, dataIDs []string, opts ...Option) (*Source, error) {
	o := defaults()
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if len(dataIDs) == 0 {
		return nil, fmt.Errorf("%w: no dataId to read", ErrInvalidConfig)
	}
	seen := map[string]bool{}
	for _, id := range dataIDs {
		if err := registry.ValidateName("dataId", id); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
		if seen[id] {
			return nil, fmt.Errorf("%w: dataId %q listed twice", ErrInvalidConfig, id)
		}
		seen[id] = true
	}
	c, err := acquireConfig(ctx, &o, servers)
	if err != nil {
		return nil, err
	}
	return &Source{o: o, c: c, dataIDs: append([]string(nil), dataIDs...)}, nil
}

// String names the source in config errors and reports: the namespace, the group and the
// dataIds.
func (s *Source) String() string {
	return "nacos " + s.o.namespace + "/" + s.o.group + " " + strings.Join(s.dataIDs, ",")
}

// Load reads every dataId from the server. An unreachable server is an error wrapping
// registry.ErrUnavailable (the SDK's local snapshot is turned off, so a stale copy never
// passes for the server's answer).
func (s *Source) Load(ctx context.Context) ([]config.Document, error) {
	docs := make([]config.Document, 0, len(s.dataIDs))
	for _, id := range s.dataIDs {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("nacos: load %s: %w", id, err)
		}
		content, err := s.c.cli.GetConfig(vo.ConfigParam{DataId: id, Group: s.o.group})
		if err != nil {
			return nil, fmt.Errorf("nacos: load dataId %q of group %q: %w", id, s.o.group, classify(err))
		}
		// Nacos refuses empty content, so "" can only mean that the dataId does not exist.
		if content == "" {
			continue
		}
		docs = append(docs, config.Document{Name: id, Format: config.FormatOf(id), Data: []byte(content)})
	}
	return docs, nil
}

// Put publishes data under dataID in the Source's group. Nacos cannot hold empty content:
// an empty data is rejected with ErrInvalidConfig (use Delete).
func (s *Source) Put(ctx context.Context, dataID string, data []byte) error {
	if len(data) == 0 {
		return fmt.Errorf("%w: dataId %q: Nacos cannot store empty content; use Delete", ErrInvalidConfig, dataID)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	ok, err := s.c.cli.PublishConfig(vo.ConfigParam{DataId: dataID, Group: s.o.group, Content: string(data)})
	if err == nil && !ok {
		err = errRefused
	}
	if err != nil {
		return fmt.Errorf("nacos: publish dataId %q of group %q: %w", dataID, s.o.group, classify(err))
	}
	return nil
}

// Delete removes dataID from the Source's group; a missing one is not an error.
func (s *Source) Delete(ctx context.Context, dataID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ok, err := s.c.cli.DeleteConfig(vo.ConfigParam{DataId: dataID, Group: s.o.group})
	if err == nil && !ok {
		err = errRefused
	}
	if err != nil {
		return fmt.Errorf("nacos: delete dataId %q of group %q: %w", dataID, s.o.group, classify(err))
	}
	return nil
}

// Close releases the shared SDK client, which is closed with its last user. Watchers must
// be stopped first.
func (s *Source) Close() error {
	s.closeOnce.Do(s.c.release)
	return nil
}

// Watch listens to every dataId. The SDK's notification only wakes the watcher, which then
// reads the dataIds again: the SDK runs each callback on a goroutine of its own, so their
// contents may arrive out of order, while a read after the wake-up is never older than it.
// A failed read is retried with capped backoff, and the dataIds are read again every
// WithConfigPoll interval to see deletes, which not every server notifies.
func (s *Source) Watch(ctx context.Context) (config.Watcher, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w := &sourceWatcher{s: s, mb: config.NewMailbox(), wake: make(chan struct{}, 1), done: make(chan struct{})}
	for _, id := range s.dataIDs {
		if err := s.c.listen(s.o.group, id, w); err != nil {
			for _, id2 := range s.dataIDs {
				s.c.unlisten(s.o.group, id2, w)
			}
			return nil, fmt.Errorf("nacos: listen to dataId %q of group %q: %w", id, s.o.group, err)
		}
	}
	go w.run()
	return w, nil
}

type sourceWatcher struct {
	s    *Source
	mb   *config.Mailbox
	wake chan struct{}
	done chan struct{}
	once sync.Once
}

func (w *sourceWatcher) notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *sourceWatcher) run() {
	defer close(w.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-w.mb.Done()
		cancel()
	}()
	pending, attempt := true, 0
	for {
		if pending {
			docs, err := w.s.Load(ctx)
			switch {
			case err == nil:
				w.mb.Put(docs)
				pending, attempt = false, 0
			case errors.Is(err, context.Canceled):
				return
			default:
				w.s.o.log.Warn("nacos: config read failed; retrying", "group", w.s.o.group, "err", err)
				t := time.NewTimer(w.s.o.retry.Delay(attempt))
				attempt++
				select {
				case <-t.C:
				case <-w.wake:
					t.Stop()
				case <-w.mb.Done():
					t.Stop()
					return
				}
				continue
			}
		}
		var tick <-chan time.Time
		var t *time.Timer
		if w.s.o.poll > 0 {
			t = time.NewTimer(w.s.o.poll)
			tick = t.C
		}
		select {
		case <-w.wake:
		case <-tick:
		case <-w.mb.Done():
			return
		}
		if t != nil {
			t.Stop()
		}
		pending = true
	}
}

func (w *sourceWatcher) Next(ctx context.Context) ([]config.Document, error) { return w.mb.Next(ctx) }

func (w *sourceWatcher) Stop() error {
	w.once.Do(func() {
		w.mb.Close()
		for _, id := range w.s.dataIDs {
			w.s.c.unlisten(w.s.o.group, id, w)
		}
		<-w.done
	})
	return nil
}

// listener is the one SDK listener of a dataId, shared by every watcher of it: a second
// ListenConfig on the same dataId and group would keep only the first callback.
type listener struct {
	watchers map[*sourceWatcher]struct{}
}

func listenKey(group, dataID string) string { return group + "\x00" + dataID }

func (c *configClient) listen(group, dataID string, w *sourceWatcher) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := listenKey(group, dataID)
	if l, ok := c.listeners[k]; ok {
		l.watchers[w] = struct{}{}
		return nil
	}
	l := &listener{watchers: map[*sourceWatcher]struct{}{w: {}}}
	err := c.cli.ListenConfig(vo.ConfigParam{DataId: dataID, Group: group, OnChange: func(_, _, _, _ string) {
		c.mu.Lock()
		defer c.mu.Unlock()
		for w := range l.watchers {
			w.notify()
		}
	}})
	if err != nil {
		return classify(err)
	}
	c.listeners[k] = l
	return nil
}

func (c *configClient) unlisten(group, dataID string, w *sourceWatcher) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := listenKey(group, dataID)
	l, ok := c.listeners[k]
	if !ok {
		return
	}
	delete(l.watchers, w)
	if len(l.watchers) == 0 {
		delete(c.listeners, k)
		_ = c.cli.CancelListenConfig(vo.ConfigParam{DataId: dataID, Group: group})
	}
}
