package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Jaeger is a Jaeger v2 all-in-one server started for one test: OTLP and Jaeger Thrift
// receivers, in-memory storage and the query API, all on loopback ports.
type Jaeger struct {
	*Process
	// OTLPGRPC is the OTLP/gRPC receiver's URL, http://127.0.0.1:<port>.
	OTLPGRPC string
	// OTLPHTTP is the OTLP/HTTP receiver's URL, http://127.0.0.1:<port>.
	OTLPHTTP string
	// ThriftHTTP is the collector endpoint jaeger-client-go's HTTP sender posts to,
	// http://127.0.0.1:<port>/api/traces.
	ThriftHTTP string
	// QueryURL is the query service (UI and /api), http://127.0.0.1:<port>.
	QueryURL string
}

// JaegerBinary returns jaeger in ToolsDir if scripts/install/jaeger.sh built it, else "".
func JaegerBinary() string {
	if p := ToolPath("jaeger"); isExecutable(p) {
		return p
	}
	return ""
}

// jaegerConfig is a trimmed all-in-one configuration (cmd/jaeger/internal/all-in-one.yaml
// in Jaeger's source) with every listener on a port of the test's choosing and the
// collector's own telemetry off, so that nothing binds a fixed port.
const jaegerConfig = `
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp, jaeger]
      processors: []
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:%[1]d
    grpc:
      endpoint: 127.0.0.1:%[2]d
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%[3]d
      http:
        endpoint: 127.0.0.1:%[4]d
  jaeger:
    protocols:
      thrift_http:
        endpoint: 127.0.0.1:%[5]d
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`

// StartJaeger starts Jaeger with its configuration in a temporary directory and waits until
// every receiver and the query API accept connections; it is stopped when the test ends.
// Without the binary it calls Missing.
func StartJaeger(t testing.TB) *Jaeger {
	t.Helper()
	bin := JaegerBinary()
	if bin == "" {
		Missing(t, "Jaeger")
	}
	dir := t.TempDir()
	query, queryGRPC, grpcPort, httpPort, thrift := FreePort(t), FreePort(t), FreePort(t), FreePort(t), FreePort(t)
	cfg := filepath.Join(dir, "jaeger.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, jaegerConfig, query, queryGRPC, grpcPort, httpPort, thrift), 0o600); err != nil {
		t.Fatal(err)
	}
	j := &Jaeger{
		OTLPGRPC:   fmt.Sprintf("http://127.0.0.1:%d", grpcPort),
		OTLPHTTP:   fmt.Sprintf("http://127.0.0.1:%d", httpPort),
		ThriftHTTP: fmt.Sprintf("http://127.0.0.1:%d/api/traces", thrift),
		QueryURL:   fmt.Sprintf("http://127.0.0.1:%d", query),
	}
	j.Process = StartProcess(t, "jaeger", dir, []string{"JAEGER_LISTEN_HOST=127.0.0.1"}, bin, "--config", cfg)
	for _, p := range []int{query, grpcPort, httpPort, thrift} {
		WaitTCP(t, fmt.Sprintf("127.0.0.1:%d", p), 60*time.Second)
	}
	return j
}

// JaegerTrace is a trace as Jaeger's query API (/api/traces) returns it.
type JaegerTrace struct {
	TraceID   string                   `json:"traceID"`
	Spans     []JaegerSpan             `json:"spans"`
	Processes map[string]JaegerProcess `json:"processes"`
}

// JaegerSpan is one span of a JaegerTrace.
type JaegerSpan struct {
	TraceID       string            `json:"traceID"`
	SpanID        string            `json:"spanID"`
	OperationName string            `json:"operationName"`
	References    []JaegerReference `json:"references"`
	ProcessID     string            `json:"processID"`
	Tags          []JaegerTag       `json:"tags"`
}

// JaegerTag is a span attribute as Jaeger shows it.
type JaegerTag struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

// Tag returns the value of the tag named key, or nil.
func (s JaegerSpan) Tag(key string) any {
	for _, t := range s.Tags {
		if t.Key == key {
			return t.Value
		}
	}
	return nil
}

// JaegerReference links a span to its parent (RefType "CHILD_OF").
type JaegerReference struct {
	RefType string `json:"refType"`
	TraceID string `json:"traceID"`
	SpanID  string `json:"spanID"`
}

// JaegerProcess names the service that recorded a span.
type JaegerProcess struct {
	ServiceName string `json:"serviceName"`
}

// Service returns the name of the service that recorded s.
func (tr JaegerTrace) Service(s JaegerSpan) string { return tr.Processes[s.ProcessID].ServiceName }

// Parent returns the span s is a child of, if it is in the trace.
func (tr JaegerTrace) Parent(s JaegerSpan) (JaegerSpan, bool) {
	for _, r := range s.References {
		if r.RefType != "CHILD_OF" {
			continue
		}
		for _, p := range tr.Spans {
			if p.SpanID == r.SpanID {
				return p, true
			}
		}
	}
	return JaegerSpan{}, false
}

// Traces returns the traces Jaeger holds for service from the last hour.
func (j *Jaeger) Traces(ctx context.Context, service string) ([]JaegerTrace, error) {
	u := j.QueryURL + "/api/traces?lookback=1h&limit=100&service=" + url.QueryEscape(service)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Data   []JaegerTrace `json:"data"`
		Errors []any         `json:"errors"`
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	return body.Data, nil
}
