// Package callhist aggregates call durations into explicit-bucket histograms without the
// OpenTelemetry SDK's per-Record work, for the meter providers Tianshu builds.
//
// The SDK normalises a call's attribute set on every Record (sdk/metric v1.47 calls
// attrnorm.SetDedup even for a prebuilt attribute.Set), which costs more than the rest of
// a histogram record and, at two records a call, about 3% of a loopback gRPC call. Tianshu
// knows its attribute sets when it builds its per-method caches, so it finds the series
// once and a call only adds to it: a bucket search and a few atomic adds.
//
// A Store holds the instruments; package metrics turns a Store into an SDK Producer so the
// series reach Prometheus (or any reader) beside the SDK's own instruments. This package
// imports only the OpenTelemetry API, so that package telemetry may record into it.
package callhist

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/tianshu-go/tianshu/internal/stripe"
)

// MaxSeries bounds the series of one instrument, as the SDK's default cardinality limit
// does: past it, measurements go to one series whose only attribute is
// otel.metric.overflow=true, so that attribute values from the network cannot grow the
// store without end.
const MaxSeries = 2000

// overflowSet is the attribute set of the overflow series, as the SDK spells it.
func overflowSet() attribute.Set {
	return attribute.NewSet(attribute.Bool("otel.metric.overflow", true))
}

// Provider is implemented by meter providers whose call durations are aggregated by a
// Store rather than by the SDK's instruments; package telemetry records into it when it
// is given such a provider.
type Provider interface {
	CallDurations() *Store
}

// Store holds the histogram instruments of one meter provider.
type Store struct {
	mu    sync.Mutex
	insts []*Instrument
}

// Desc describes an instrument as the SDK would report it.
type Desc struct {
	Scope, SchemaURL        string
	Name, Unit, Description string
	Bounds                  []float64
}

// Instrument returns the histogram described by d, creating it on first use; a second
// call with the same scope and name returns the first instrument.
func (s *Store) Instrument(d Desc) *Instrument {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, in := range s.insts {
		if in.desc.Scope == d.Scope && in.desc.Name == d.Name {
			return in
		}
	}
	d.Bounds = slices.Clone(d.Bounds)
	in := &Instrument{desc: d, start: time.Now(), series: map[attribute.Distinct]*Series{}}
	s.insts = append(s.insts, in)
	return in
}

// Instruments returns the instruments created so far.
func (s *Store) Instruments() []*Instrument {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.insts)
}

// Instrument is one histogram: a description and its series, one per attribute set.
type Instrument struct {
	desc  Desc
	start time.Time

	mu       sync.Mutex
	series   map[attribute.Distinct]*Series
	order    []*Series // in order of creation, for a stable export
	overflow *Series
}

// Desc returns the instrument's description.
func (in *Instrument) Desc() Desc { return in.desc }

// Start returns when the instrument was created: the start of its cumulative series.
func (in *Instrument) Start() time.Time { return in.start }

// Series returns the series of the attribute set attrs, creating it on first use. Callers
// keep the result: this is the slow path, taken when a cache is built.
func (in *Instrument) Series(attrs attribute.Set) *Series {
	in.mu.Lock()
	defer in.mu.Unlock()
	if s, ok := in.series[attrs.Equivalent()]; ok {
		return s
	}
	if len(in.series) >= MaxSeries {
		if in.overflow == nil {
			in.overflow = newSeries(overflowSet(), len(in.desc.Bounds))
			in.order = append(in.order, in.overflow)
		}
		return in.overflow
	}
	s := newSeries(attrs, len(in.desc.Bounds))
	in.series[attrs.Equivalent()] = s
	in.order = append(in.order, s)
	return s
}

// All returns the instrument's series in the order they were created, empty ones too.
func (in *Instrument) All() []*Series {
	in.mu.Lock()
	defer in.mu.Unlock()
	return slices.Clone(in.order)
}

// Series is the histogram of one attribute set. Record may be called from any goroutine.
type Series struct {
	attrs attribute.Set
	nb    int // buckets: the bounds and (last bound, +Inf)
	// cells holds, per stripe (see package stripe), the sum's bits and then the bucket
	// counts, each stripe on lines of its own: every call adds to a sum and a count, and
	// two cores adding to one line took it from each other on nearly every call. It is
	// made by the first Record, as most of a method's series (a code each) never record.
	cells    atomic.Pointer[stripes]
	stride   int
	min, max atomicFloat // valid once a count is non-zero; written only by a new extreme
	// exemplars are written only for sampled calls.
	exemplars []atomic.Pointer[Exemplar]
}

func newSeries(attrs attribute.Set, bounds int) *Series {
	s := &Series{attrs: attrs, nb: bounds + 1, stride: stripe.Stride(bounds + 2),
		exemplars: make([]atomic.Pointer[Exemplar], bounds+1)}
	s.min.v.Store(math.Float64bits(math.Inf(1)))
	s.max.v.Store(math.Float64bits(math.Inf(-1)))
	return s
}

// Attributes returns the series' attribute set.
func (s *Series) Attributes() attribute.Set { return s.attrs }

// Record adds v, which falls in bucket i of the instrument's bounds (see Bucket).
//
// The sum, the bucket and the extremes are separate atomics, so a reader that runs
// during a Record may see one updated and not the others; the count it reports is the
// sum of the buckets, which always agrees with them.
func (s *Series) Record(v float64, i int) {
	p := s.cells.Load()
	if p == nil {
		p = s.makeCells()
	}
	at := stripe.Index(p.n) * s.stride
	addFloat(&p.cells[at], v)
	p.cells[at+1+i].Add(1)
	s.min.lower(v)
	s.max.raise(v)
}

// makeCells makes the stripes on a series' first record; of two goroutines racing to,
// one's stripes are kept.
func (s *Series) makeCells() *stripes {
	n := stripe.Count()
	p := &stripes{n: n, cells: make([]atomic.Uint64, n*s.stride)}
	if s.cells.CompareAndSwap(nil, p) {
		return p
	}
	return s.cells.Load()
}

// stripes are a series' cells: n stripes of Series.stride words each.
type stripes struct {
	n     int
	cells []atomic.Uint64
}

// RecordExemplar records v as Record does and keeps it as bucket i's exemplar, with the
// trace and span it was measured in: the last sampled measurement of each bucket, as the
// SDK's default reservoir for explicit-bucket histograms keeps it.
func (s *Series) RecordExemplar(v float64, i int, sc trace.SpanContext) {
	s.Record(v, i)
	tid, sid := sc.TraceID(), sc.SpanID()
	s.exemplars[i].Store(&Exemplar{Time: time.Now(), Value: v, TraceID: tid, SpanID: sid})
}

// Bucket returns the index of the bucket that holds v among bounds sorted ascending: the
// first whose bound is at least v, as the SDK counts (upper bounds inclusive).
func Bucket(bounds []float64, v float64) int {
	// A linear scan: there are 14 bounds, most calls land in the first few, and the scan
	// has no branch the predictor misses twice.
	for i, b := range bounds {
		if v <= b {
			return i
		}
	}
	return len(bounds)
}

// Snapshot is a reading of a series.
type Snapshot struct {
	Count        uint64
	Sum          float64
	Min, Max     float64
	BucketCounts []uint64
	Exemplars    []Exemplar
}

// Read returns the series' current figures; a series never recorded has Count 0.
func (s *Series) Read() Snapshot {
	snap := Snapshot{BucketCounts: make([]uint64, s.nb)}
	if p := s.cells.Load(); p != nil {
		cells := p.cells
		for at := 0; at < len(cells); at += s.stride {
			snap.Sum += math.Float64frombits(cells[at].Load())
			for i := range s.nb {
				snap.BucketCounts[i] += cells[at+1+i].Load()
			}
		}
	}
	for i, n := range snap.BucketCounts {
		snap.Count += n
		if e := s.exemplars[i].Load(); e != nil {
			snap.Exemplars = append(snap.Exemplars, *e)
		}
	}
	snap.Min, snap.Max = s.min.load(), s.max.load()
	return snap
}

// Exemplar is a measurement kept with the trace it was taken in.
type Exemplar struct {
	Time    time.Time
	Value   float64
	TraceID trace.TraceID
	SpanID  trace.SpanID
}

// atomicFloat is a float64 updated with compare-and-swap.
type atomicFloat struct{ v atomic.Uint64 }

func (f *atomicFloat) load() float64 { return math.Float64frombits(f.v.Load()) }

// addFloat adds d to the float64 whose bits u holds.
func addFloat(u *atomic.Uint64, d float64) {
	for {
		old := u.Load()
		if u.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+d)) {
			return
		}
	}
}

// lower sets f to v if v is lower; once the extremes settle, a call only loads.
func (f *atomicFloat) lower(v float64) {
	for {
		old := f.v.Load()
		if v >= math.Float64frombits(old) || f.v.CompareAndSwap(old, math.Float64bits(v)) {
			return
		}
	}
}

func (f *atomicFloat) raise(v float64) {
	for {
		old := f.v.Load()
		if v <= math.Float64frombits(old) || f.v.CompareAndSwap(old, math.Float64bits(v)) {
			return
		}
	}
}
