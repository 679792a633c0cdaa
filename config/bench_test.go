package config_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/config"
)

// benchSection has 10 keys; bench200 has 20 sections: 200 keys in all.
type benchSection struct {
	Host    string
	Port    int
	Enabled bool
	Ratio   float64
	Timeout time.Duration
	Tags    []string
	Name    string
	Retries int
	Weight  uint32
	Zone    string
}

type bench200 struct {
	S00, S01, S02, S03, S04, S05, S06, S07, S08, S09 benchSection
	S10, S11, S12, S13, S14, S15, S16, S17, S18, S19 benchSection
}

// benchDoc returns the 200-key document as YAML, and as JSON with durations
// in nanoseconds for the encoding/json baseline.
func benchDoc() (yamlDoc, jsonDoc string) {
	var y strings.Builder
	js := map[string]any{}
	for i := range 20 {
		fmt.Fprintf(&y, "s%02d:\n  host: host-%d.example.com\n  port: %d\n  enabled: true\n  ratio: 0.%d\n  timeout: %ds\n  tags: [a, b, c]\n  name: svc-%d\n  retries: 3\n  weight: 100\n  zone: zone-%d\n",
			i, i, 8000+i, i, i+1, i, i%3)
		js[fmt.Sprintf("s%02d", i)] = map[string]any{
			"host": fmt.Sprintf("host-%d.example.com", i), "port": 8000 + i, "enabled": true,
			"ratio": float64(i) / 10, "timeout": int64(i+1) * int64(time.Second), "tags": []string{"a", "b", "c"},
			"name": fmt.Sprintf("svc-%d", i), "retries": 3, "weight": 100, "zone": fmt.Sprintf("zone-%d", i%3),
		}
	}
	b, _ := json.Marshal(js)
	return y.String(), string(b)
}

// BenchmarkScan200Keys measures Scan of a 200-key document into a typed
// struct (durations parsed from text, case-insensitive keys, defaults and
// validation hooks checked).
func BenchmarkScan200Keys(b *testing.B) {
	y, _ := benchDoc()
	c, err := config.New(context.Background(), []config.Source{config.Bytes("bench.yaml", "", []byte(y))}, config.WithoutWatch())
	if err != nil {
		b.Fatal(err)
	}
	var v bench200
	if err := c.Scan(&v); err != nil {
		b.Fatal(err)
	}
	if v.S19.Timeout != 20*time.Second {
		b.Fatalf("scan went wrong: %+v", v.S19)
	}
	b.ReportAllocs()
	for b.Loop() {
		var v bench200
		if err := c.Scan(&v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScan200KeysBaselineJSON is the baseline: encoding/json decoding
// the same 200 keys from bytes into the same struct.
func BenchmarkScan200KeysBaselineJSON(b *testing.B) {
	_, js := benchDoc()
	data := []byte(js)
	b.ReportAllocs()
	for b.Loop() {
		var v bench200
		if err := json.Unmarshal(data, &v); err != nil {
			b.Fatal(err)
		}
	}
}
