package admin_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	nacosconfig "github.com/tianshu-go/tianshu/config/nacos"
	zkconfig "github.com/tianshu-go/tianshu/config/zookeeper"
	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/dubbo/admin"
	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/rules"
)

func TestWatchRejectsBadOptions(t *testing.T) {
	ctx := context.Background()
	dir := admin.Dir(t.TempDir())
	for name, err := range map[string]error{
		"nil logger":        watchErr(admin.Watch(ctx, dir, consumer, admin.WithLogger(nil))),
		"nil error handler": watchErr(admin.Watch(ctx, dir, consumer, admin.WithErrorHandler(nil))),
		"nil option":        watchErr(admin.Watch(ctx, dir, consumer, nil)),
		"zero backend":      watchErr(admin.Watch(ctx, admin.Backend{}, consumer)),
		"no service":        watchErr(admin.Watch(ctx, dir, dubbo.RuleScope{Application: "x"})),
		"a bad interface":   watchErr(admin.Watch(ctx, dir, dubbo.RuleScope{Services: []dubbo.Reference{{Interface: "a/b"}}})),
		"nil ZooKeeper":     watchErr(admin.Watch(ctx, admin.ZooKeeper(nil), consumer)),
	} {
		if !errors.Is(err, admin.ErrOption) {
			t.Errorf("%s: error %v, want ErrOption", name, err)
		}
	}
}

func watchErr(w *admin.Watcher, err error) error {
	if w != nil {
		_ = w.Close()
	}
	return err
}

// waitFor polls cond for up to applyBound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(applyBound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, applyBound)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWatchKeepsTheLastGoodRuleAndReportsOnce(t *testing.T) {
	dir := t.TempDir()
	key := providerApp + dubbo.SuffixConfigurators
	write := func(s string) {
		if err := os.WriteFile(filepath.Join(dir, key), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("scope: application\nkey: " + providerApp + "\nconfigs:\n  - {side: provider, addresses: [h:1], parameters: {weight: 7, timeout: 5}}\n")
	log, logs := newLog(t)
	var mu sync.Mutex
	var handled []error
	w, err := admin.Watch(context.Background(), admin.Dir(dir), consumer, admin.WithLogger(log),
		admin.WithErrorHandler(func(err error) { mu.Lock(); handled = append(handled, err); mu.Unlock() }))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	instances := func() []rules.Instance { return w.Store().Load().For(iface).Instances }
	if got := instances(); len(got) != 1 || got[0] != (rules.Instance{Address: "h:1", Weight: 7}) {
		t.Fatalf("instances %+v, want h:1 weight 7", got)
	}
	if n := logs.count(`parameter \"timeout\" is not applied`); n != 1 {
		t.Errorf("the note on timeout logged %d times, want once", n)
	}

	write("scope: application\nkey: k\nconfigs:\n  - {side: provider, addresses: [h:1], parameters: {weight: heavy}}\n")
	waitFor(t, "the rejection logged", func() bool { return logs.count("Dubbo Admin rule rejected") == 1 })
	write("scope: application\nkey: k\nconfigs:\n  - {side: provider, addresses: [h:1], parameters: {weight: heavy}}\n# touched\n")
	time.Sleep(200 * time.Millisecond) // the file source's debounce is 20 ms
	if n := logs.count("Dubbo Admin rule rejected"); n != 1 {
		t.Errorf("the same mistake logged %d times, want once", n)
	}
	mu.Lock()
	got := append([]error(nil), handled...)
	mu.Unlock()
	if len(got) != 1 || !errors.Is(got[0], dubbo.ErrInvalidRule) {
		t.Errorf("error handler got %v, want one error wrapping dubbo.ErrInvalidRule", got)
	}
	if !strings.Contains(logs.String(), "last good version stays") {
		t.Error("the log does not say the last good rule stays")
	}
	if got := instances(); len(got) != 1 || got[0].Weight != 7 {
		t.Errorf("instances %+v after a malformed rule, want the last good one (weight 7)", got)
	}

	if err := os.Remove(filepath.Join(dir, key)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the rule removed", func() bool { return len(instances()) == 0 })
}

// BenchmarkRuleWrittenToApplied measures the time from writing a weight rule to the Store
// holding its translation, on the shared ZooKeeper and on rnacos (the balancer rebuilds its
// picker on the Store's change, without I/O).
func BenchmarkRuleWrittenToApplied(b *testing.B) {
	key := providerApp + dubbo.SuffixConfigurators
	b.Run("ZooKeeper", func(b *testing.B) {
		reg := openZK(b, zkServer.Get(b).Addr)
		p := dubbo.ConfigRoot + "/" + key
		src, err := zkconfig.Node(reg, p)
		if err != nil {
			b.Fatal(err)
		}
		benchApply(b, admin.ZooKeeper(reg), func(data []byte) error { return src.Put(context.Background(), p, data) })
	})
	b.Run("Nacos", func(b *testing.B) {
		srv := testenv.StartNacos(b)
		dir := b.TempDir()
		// The writer has a client of its own, as Dubbo Admin is another process.
		writer, err := nacosconfig.New(context.Background(), []string{srv.Addr}, []string{key},
			nacosconfig.WithGroup(dubbo.ConfigGroup), nacosconfig.WithDir(b.TempDir()), nacosconfig.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			b.Fatal(err)
		}
		defer writer.Close()
		benchApply(b, admin.Nacos([]string{srv.Addr}, nacosconfig.WithDir(dir), nacosconfig.WithLogger(slog.New(slog.DiscardHandler))),
			func(data []byte) error { return writer.Put(context.Background(), key, data) })
	})
}

// benchApply writes a new weight rule with put b.N times, each time waiting for the Store
// of a Watch on backend to hold it.
func benchApply(b *testing.B, backend admin.Backend, put func([]byte) error) {
	w, err := admin.Watch(context.Background(), backend, consumer, admin.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	weight := 0 // the weight in force: the next one written must differ
	if in := w.Store().Load().For(iface).Instances; len(in) == 1 {
		weight = in[0].Weight
	}
	applied := make(chan int, 1) // the latest weight applied
	cancel := w.Store().Subscribe(func(r *rules.Rules) {
		if in := r.For(iface).Instances; len(in) == 1 {
			select {
			case <-applied:
			default:
			}
			applied <- in[0].Weight // Subscribe's calls come one at a time
		}
	})
	defer cancel()
	b.ResetTimer()
	for range b.N {
		weight = weight%500 + 1
		rule := "scope: application\nkey: " + providerApp + "\nconfigs:\n  - {side: provider, addresses: [\"127.0.0.1:1\"], parameters: {weight: " + strconv.Itoa(weight) + "}}\n"
		if err := put([]byte(rule)); err != nil {
			b.Fatal(err)
		}
		for got := -1; got != weight; {
			select {
			case got = <-applied:
			case <-time.After(applyBound):
				b.Fatalf("weight %d not applied within %v (last %d)", weight, applyBound, got)
			}
		}
	}
}

func TestWithBaseMergesTheConsumersOwnRules(t *testing.T) {
	dir := t.TempDir()
	rule := "scope: application\nkey: " + consumerApp + "\nconfigs:\n  - {side: provider, addresses: [\"h:1\"], parameters: {weight: 9}}\n"
	if err := os.WriteFile(filepath.Join(dir, consumerApp+dubbo.SuffixConfigurators), []byte(rule), 0o600); err != nil {
		t.Fatal(err)
	}
	own := func(weight int) *rules.Rules {
		return &rules.Rules{Services: map[string]rules.Service{iface: {
			Instances: []rules.Instance{{Address: "h:1", Weight: weight}, {ID: "x", Out: true}},
			Methods:   map[string]rules.Policy{"*": {Timeout: time.Second}},
		}}}
	}
	base, err := rules.NewStore(own(2))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Watch(context.Background(), admin.Dir(dir), consumer, admin.WithBase(nil)); !errors.Is(err, admin.ErrOption) {
		t.Errorf("WithBase(nil): %v, want ErrOption", err)
	}
	w, err := admin.Watch(context.Background(), admin.Dir(dir), consumer, admin.WithBase(base))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	check := func() {
		t.Helper()
		s := w.Store().Load().For(iface)
		want := []rules.Instance{{ID: "x", Out: true}, {Address: "h:1", Weight: 9}}
		if fmt.Sprint(s.Instances) != fmt.Sprint(want) || s.Methods["*"].Timeout != time.Second {
			t.Errorf("merged service %+v: want the own rules with Dubbo's weight 9 for h:1", s)
		}
	}
	check()
	if err := base.Set(own(3)); err != nil {
		t.Fatal(err)
	}
	check() // a change of the own rules applies at once, under Dubbo's override
	if err := base.Set(&rules.Rules{}); err != nil {
		t.Fatal(err)
	}
	if s := w.Store().Load().For(iface); len(s.Instances) != 1 || s.Methods != nil {
		t.Errorf("after the own rules emptied: %+v, want Dubbo's override alone", s)
	}
}
