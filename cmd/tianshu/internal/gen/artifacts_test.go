package gen

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v4"
)

// instruction is one Dockerfile instruction after line continuations are joined.
type instruction struct {
	line int
	cmd  string // upper-cased
	args string
}

// parseDockerfile reads the subset of Dockerfile syntax the template uses, strictly:
// comments, parser directives, backslash continuations, and known instructions only.
func parseDockerfile(src string) ([]instruction, error) {
	known := []string{"FROM", "ARG", "WORKDIR", "COPY", "RUN", "USER", "EXPOSE", "HEALTHCHECK", "ENTRYPOINT", "CMD", "ENV", "LABEL"}
	var out []instruction
	var cur strings.Builder
	start := 0
	for i, raw := range strings.Split(src, "\n") {
		line := strings.TrimSpace(raw)
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if cont, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(line)
		full := cur.String()
		cur.Reset()
		cmd, args, _ := strings.Cut(full, " ")
		cmd = strings.ToUpper(cmd)
		if !slices.Contains(known, cmd) {
			return nil, fmt.Errorf("line %d: unknown instruction %q", start, cmd)
		}
		if strings.TrimSpace(args) == "" {
			return nil, fmt.Errorf("line %d: %s without arguments", start, cmd)
		}
		out = append(out, instruction{line: start, cmd: cmd, args: strings.TrimSpace(args)})
	}
	if cur.Len() > 0 {
		return nil, fmt.Errorf("line %d: the file ends inside a continued line", start)
	}
	return out, nil
}

// execForm parses a JSON-array argument such as ["/app/x", "-flag"].
func execForm(s string) ([]string, error) {
	var argv []string
	if err := json.Unmarshal([]byte(s), &argv); err != nil {
		return nil, fmt.Errorf("not an exec-form JSON array: %s: %w", s, err)
	}
	return argv, nil
}

func TestDockerfileIsAMultiStageStaticNonRootBuildWithAHealthCheck(t *testing.T) {
	files, err := Render(Options{Name: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	ins, err := parseDockerfile(string(files["Dockerfile"]))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	if ins[0].cmd != "FROM" {
		t.Fatalf("the first instruction is %s, want FROM", ins[0].cmd)
	}
	var stages []string // the base image of each stage
	var stageNames []string
	var final []instruction
	for _, in := range ins {
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			stages = append(stages, f[0])
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				stageNames = append(stageNames, f[2])
			}
			final = nil
			continue
		}
		final = append(final, in)
		if in.cmd == "COPY" && strings.HasPrefix(in.args, "--from=") {
			from, _, _ := strings.Cut(strings.TrimPrefix(in.args, "--from="), " ")
			if !slices.Contains(stageNames, from) {
				t.Errorf("line %d copies from stage %q, which is not defined before it", in.line, from)
			}
		}
	}
	if len(stages) < 2 {
		t.Errorf("%d stage(s), want a multi-stage build", len(stages))
	}
	if base := stages[len(stages)-1]; !strings.Contains(base, "distroless/static") {
		t.Errorf("the runtime base is %s, want a minimal static image", base)
	}
	if !strings.Contains(string(files["Dockerfile"]), "CGO_ENABLED=0 go build") {
		t.Error("the binary is not built with CGO_ENABLED=0, so it may not be static")
	}
	var user, health, entry *instruction
	for i := range final {
		switch final[i].cmd {
		case "USER":
			user = &final[i]
		case "HEALTHCHECK":
			health = &final[i]
		case "ENTRYPOINT":
			entry = &final[i]
		}
	}
	if user == nil || user.args == "root" || strings.HasPrefix(user.args, "0") {
		t.Errorf("the runtime stage runs as %v, want a non-root USER", user)
	}
	if health == nil {
		t.Fatal("no HEALTHCHECK in the runtime stage")
	}
	_, cmd, ok := strings.Cut(health.args, "CMD ")
	if !ok {
		t.Fatalf("HEALTHCHECK %s has no CMD", health.args)
	}
	argv, err := execForm(cmd)
	if err != nil || argv[0] != "/app/orders" || !slices.Contains(argv, "-healthcheck") {
		t.Errorf("HEALTHCHECK CMD = %v (%v), want the binary's -healthcheck (the image has no shell)", argv, err)
	}
	if entry == nil {
		t.Fatal("no ENTRYPOINT")
	}
	if argv, err := execForm(entry.args); err != nil || argv[0] != "/app/orders" {
		t.Errorf("ENTRYPOINT = %v (%v), want the binary in exec form", argv, err)
	}
}

func TestDockerfileParserRejectsBrokenFiles(t *testing.T) {
	tests := []struct{ name, src string }{
		{"an unknown instruction is an error", "FROM scratch\nFROB x\n"},
		{"an instruction without arguments is an error", "FROM\n"},
		{"a file ending in a continuation is an error", "FROM scratch\nRUN a \\"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parseDockerfile(tt.src); err == nil {
				t.Fatal("parsed without error")
			}
		})
	}
}

// tree is a decoded YAML document, walked with get.
type tree = map[string]any

func get(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(tree)
			if !ok {
				t.Fatalf("%v: not a mapping at %q", path, k)
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("%v: no item %d", path, k)
			}
			v = l[k]
		}
	}
	return v
}

func decodeYAML(t *testing.T, name string, b []byte) tree {
	t.Helper()
	var m tree
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s does not parse as YAML: %v", name, err)
	}
	return m
}

func TestComposeAndKubernetesManifestsParseForEveryRegistry(t *testing.T) {
	for _, reg := range Registries {
		t.Run("the "+reg+" registry's files parse and hang together", func(t *testing.T) {
			files, err := Render(Options{Name: "order-history", Registry: reg})
			if err != nil {
				t.Fatal(err)
			}
			compose := decodeYAML(t, "compose.yaml", files["compose.yaml"])
			svc := get(t, compose, "services", "order-history")
			if svc == nil {
				t.Fatal("compose.yaml has no order-history service")
			}
			if get(t, compose, "services", "jaeger") == nil {
				t.Error("compose.yaml has no jaeger service")
			}
			if ports, _ := get(t, svc, "ports").([]any); !slices.Contains(ports, any("8080:8080")) {
				t.Errorf("compose publishes %v, want the REST port 8080 among them", ports)
			}
			env := get(t, svc, "environment").(tree)
			url, _ := env["ORDER_HISTORY_REGISTRY__URL"].(string)
			if !strings.HasPrefix(url, reg+"://") {
				t.Errorf("compose sets the registry URL %q, want a %s:// URL", url, reg)
			}
			if reg != "file" && get(t, compose, "services", reg) == nil {
				t.Errorf("compose.yaml has no %s service", reg)
			}

			dep := decodeYAML(t, "deployment.yaml", files["deploy/k8s/deployment.yaml"])
			if get(t, dep, "kind") != "Deployment" {
				t.Errorf("deployment.yaml kind = %v", get(t, dep, "kind"))
			}
			c := get(t, dep, "spec", "template", "spec", "containers", 0)
			for probe, path := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz"} {
				if got := get(t, c, probe, "httpGet", "path"); got != path {
					t.Errorf("%s path = %v, want %s", probe, got, path)
				}
				if got := get(t, c, probe, "httpGet", "port"); got != "admin" {
					t.Errorf("%s port = %v, want the admin port", probe, got)
				}
			}
			if got := get(t, dep, "spec", "template", "spec", "securityContext", "runAsNonRoot"); got != true {
				t.Errorf("runAsNonRoot = %v", got)
			}

			if get(t, c, "ports", 1, "name") != "http" || get(t, c, "ports", 1, "containerPort") != 8080 {
				t.Errorf("the container's second port is %v, want http on 8080", get(t, c, "ports", 1))
			}

			svcYAML := decodeYAML(t, "service.yaml", files["deploy/k8s/service.yaml"])
			if get(t, svcYAML, "kind") != "Service" || get(t, svcYAML, "spec", "ports", 0, "name") != "grpc" {
				t.Errorf("service.yaml is not a Service exposing grpc: %v", svcYAML)
			}
			if get(t, svcYAML, "spec", "ports", 1, "targetPort") != "http" {
				t.Errorf("service.yaml's second port is %v, want the container's http port", get(t, svcYAML, "spec", "ports", 1))
			}

			cm := decodeYAML(t, "configmap.yaml", files["deploy/k8s/configmap.yaml"])
			embedded, _ := get(t, cm, "data", "config.yaml").(string)
			inner := decodeYAML(t, "the ConfigMap's config.yaml", []byte(embedded))
			if u, _ := get(t, inner, "registry", "url").(string); !strings.HasPrefix(u, reg+"://") {
				t.Errorf("the ConfigMap's registry.url = %q, want a %s:// URL", u, reg)
			}
			if a := get(t, inner, "http", "addr"); a != ":8080" {
				t.Errorf("the ConfigMap's http.addr = %v, want :8080, the container's http port", a)
			}

			local := decodeYAML(t, "config.yaml", files["config.yaml"])
			if u, _ := get(t, local, "registry", "url").(string); !strings.HasPrefix(u, reg+"://") {
				t.Errorf("config.yaml registry.url = %q, want a %s:// URL", u, reg)
			}
			if a := get(t, local, "http", "addr"); a != ":8080" {
				t.Errorf("config.yaml http.addr = %v, want :8080", a)
			}
			if reg != "file" && !strings.Contains(string(files["backends.go"]), "registry/"+reg+`"`) {
				t.Errorf("backends.go does not import the %s backend", reg)
			}
		})
	}
}

func TestTheDockerfileOfAReplacedProjectBuildsFromVendor(t *testing.T) {
	files, err := Render(Options{Name: "orders", Replace: "/home/me/tianshu"})
	if err != nil {
		t.Fatal(err)
	}
	ins, err := parseDockerfile(string(files["Dockerfile"]))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	vendored := false
	for _, in := range ins {
		if in.cmd == "RUN" && strings.Contains(in.args, "go mod download") {
			t.Errorf("line %d downloads modules: the replaced module is not in the build context", in.line)
		}
		if in.cmd == "RUN" && strings.Contains(in.args, "GOFLAGS=-mod=vendor") && strings.Contains(in.args, "go build") {
			vendored = true
		}
	}
	if !vendored {
		t.Errorf("no RUN builds with -mod=vendor:\n%s", files["Dockerfile"])
	}
	if strings.Contains(string(files["Dockerfile"]), "/home/me/tianshu") {
		t.Error("the Dockerfile names the host path of the checkout")
	}
	if !strings.Contains(string(files["README.md"]), "go mod vendor") {
		t.Error("the README does not say to re-run go mod vendor")
	}
}
