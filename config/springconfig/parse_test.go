package springconfig

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"
)

func TestParseNestsFlatKeysAndReversesPrecedence(t *testing.T) {
	body := `{"name":"orders","profiles":["dev"],"label":null,"version":null,"state":null,"propertySources":[
		{"name":"file:/c/orders-dev.yml","source":{"db.hosts[0].port":5432,"db.hosts[0].name":"a","db.hosts[1].name":"b","on":true}},
		{"name":"Config resource 'file [/c/application.properties]' via location 'file:/c/'","source":{"a.b":"1","map[x.y]":"dots","q uote":"\"\u003c"}}
	]}`
	docs, err := parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 || docs[0].Name != "/c/application.properties" || docs[1].Name != "/c/orders-dev.yml" {
		t.Fatalf("documents %q: want application.properties, then orders-dev.yml", docs)
	}
	want := map[string]any{"a": map[string]any{"b": "1"}, "map": map[string]any{"x.y": "dots"}, "q uote": `"<`}
	if got := decode(t, docs[0].Data); !reflect.DeepEqual(got, want) {
		t.Errorf("first document %s decodes to %v, want %v", docs[0].Data, got, want)
	}
	want = map[string]any{
		"db": map[string]any{"hosts": []any{map[string]any{"name": "a", "port": 5432}, map[string]any{"name": "b"}}},
		"on": true,
	}
	if got := decode(t, docs[1].Data); !reflect.DeepEqual(got, want) {
		t.Errorf("second document %s decodes to %v, want %v", docs[1].Data, got, want)
	}
}

func decode(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	return m
}

func TestParseRejectsWhatCannotNest(t *testing.T) {
	for src, want := range map[string]string{
		`{"a":1,"a.b":2}`:          `"a" is both a value and a section`,
		`{"a[0]":1,"a.b":2}`:       "both a list and a map",
		`{"a[1]":1,"b":2}`:         "no element 0",
		`{"a[2000000000]":1}`:      "past the number of keys",
		`{"a[0]":1,"a[00]":2}`:     "given twice",
		`{"a.":1}`:                 "empty segment",
		`{"[x]y":1}`:               "want . or [",
		`{"a[":1}`:                 "unclosed",
		`{"":1}`:                   "empty key",
		`{"a.b":1,"a.b.c[0].d":2}`: "both a value and a section",
	} {
		_, err := parse([]byte(`{"propertySources":[{"name":"n","source":` + src + `}]}`))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error saying %q", src, err, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"propertySources":[{"name":"a","source":{"a.b[0].c":"x","a.b[1]":1,"m[k.1]":true,"n":null}}]}`))
	f.Add([]byte(`{"propertySources":[{"name":"file:/x","source":{"true":"\u2028","y":1e400,"z":-0.5}}]}`))
	f.Add([]byte(`{"propertySources":[{"name":"","source":{"a":{"nested":[1,2]}}},{"name":"","source":{}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		docs, err := parse(body)
		if err != nil {
			return
		}
		var env environment
		if json.Unmarshal(body, &env) != nil {
			t.Fatalf("parse accepted what encoding/json rejects: %q", body)
		}
		seen := map[string]bool{}
		for _, d := range docs {
			if seen[d.Name] {
				t.Fatalf("document name %q twice", d.Name)
			}
			seen[d.Name] = true
			var m map[string]any
			if err := yaml.Unmarshal(d.Data, &m); err != nil {
				t.Fatalf("document %q is not YAML: %v\n%s", d.Name, err, d.Data)
			}
			// Every string the server sent comes back unchanged.
			for _, s := range strings.Split(string(d.Data), "\n") {
				if s == "" {
					continue
				}
				k, v, ok := strings.Cut(s, ": ")
				if !ok {
					t.Fatalf("line %q has no key", s)
				}
				var key string
				if json.Unmarshal([]byte(k), &key) != nil {
					key = k
				}
				var want any
				dec := json.NewDecoder(strings.NewReader(v))
				dec.UseNumber()
				if err := dec.Decode(&want); err != nil {
					t.Fatalf("value of %q is not JSON: %v", key, err)
				}
				if ws, isString := want.(string); isString && fmt.Sprint(m[key]) != ws {
					t.Fatalf("key %q: YAML reads %q, JSON said %q\n%s", key, m[key], ws, d.Data)
				}
			}
		}
	})
}

// A typical answer: four property sources of 50 keys each, lists and nested maps among them.
func BenchmarkParse(b *testing.B) {
	var sources []string
	for s := range 4 {
		var kv []string
		for k := range 50 {
			switch k % 3 {
			case 0:
				kv = append(kv, fmt.Sprintf(`"svc%d.setting%d":"value-%d"`, s, k, k))
			case 1:
				kv = append(kv, fmt.Sprintf(`"svc%d.hosts[%d]":"h%d"`, s, k/3, k))
			default:
				kv = append(kv, fmt.Sprintf(`"svc%d.pool.size%d":%d`, s, k, k))
			}
		}
		sources = append(sources, fmt.Sprintf(`{"name":"file:/c/f%d.yml","source":{%s}}`, s, strings.Join(kv, ",")))
	}
	body := []byte(`{"name":"a","profiles":["default"],"label":null,"version":null,"state":null,"propertySources":[` +
		strings.Join(sources, ",") + `]}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parse(body); err != nil {
			b.Fatal(err)
		}
	}
}
