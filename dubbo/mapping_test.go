package dubbo_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tianshu-go/tianshu/dubbo"
)

func TestParseMappingReadsAsDubbo(t *testing.T) {
	for _, c := range []struct {
		content string
		want    []string
	}{
		{"", nil},
		{" , ,", nil},
		{"tianshu-interop-java-provider,fake-go", []string{"fake-go", "tianshu-interop-java-provider"}},
		{" b , a,,b,a ", []string{"a", "b"}},
		{"only", []string{"only"}},
	} {
		if got := dubbo.ParseMapping(c.content); !slices.Equal(got, c.want) {
			t.Errorf("ParseMapping(%q) = %q, want %q", c.content, got, c.want)
		}
	}
}

func TestAppendMappingAddsOnce(t *testing.T) {
	for _, c := range []struct {
		content, app, want string
		changed            bool
	}{
		{"", "fake-go", "fake-go", true},
		{"  ", "fake-go", "fake-go", true},
		{"tianshu-interop-java-provider", "fake-go", "tianshu-interop-java-provider,fake-go", true},
		{"tianshu-interop-java-provider,fake-go", "fake-go", "tianshu-interop-java-provider,fake-go", false},
		{"a, fake-go ,b", "fake-go", "a, fake-go ,b", false}, // Dubbo trims what it reads
		{"fake-go-2", "fake-go", "fake-go-2,fake-go", true},
		{"\xe7", "\uFFFD", "\xe7,\uFFFD", true}, // bytes, not what Java decodes them to
	} {
		got, changed, err := dubbo.AppendMapping(c.content, c.app)
		if err != nil || got != c.want || changed != c.changed {
			t.Errorf("AppendMapping(%q, %q) = %q, %v, %v; want %q, %v", c.content, c.app, got, changed, err, c.want, c.changed)
		}
	}
}

func TestAppendMappingRefusesNamesThatDoNotReadBack(t *testing.T) {
	for _, app := range []string{"", "a,b", " a", "a\n", ",", "\xff"} {
		if _, _, err := dubbo.AppendMapping("x", app); !errors.Is(err, dubbo.ErrInvalidAppName) {
			t.Errorf("AppendMapping(%q) = %v, want ErrInvalidAppName", app, err)
		}
	}
}

// FuzzMapping: parsing never yields an empty, untrimmed, comma-holding or repeated name;
// appending a valid name keeps every name listed before and lists the new one, and
// appending it again changes nothing.
func FuzzMapping(f *testing.F) {
	f.Add("tianshu-interop-java-provider,fake-go", "fake-go")
	f.Add(" , a ,,a", "b")
	f.Add("", "x")
	f.Fuzz(func(t *testing.T, content, app string) {
		old := dubbo.ParseMapping(content)
		for i, a := range old {
			if a == "" || strings.TrimSpace(a) != a || strings.Contains(a, ",") || (i > 0 && old[i-1] == a) {
				t.Fatalf("ParseMapping(%q) = %q", content, old)
			}
		}
		next, changed, err := dubbo.AppendMapping(content, app)
		if err != nil {
			if !errors.Is(err, dubbo.ErrInvalidAppName) {
				t.Fatalf("error %v does not wrap ErrInvalidAppName", err)
			}
			return
		}
		got := dubbo.ParseMapping(next)
		for _, a := range append(old, app) {
			if !slices.Contains(got, a) {
				t.Fatalf("AppendMapping(%q, %q) = %q, which lists %q, lost %q", content, app, next, got, a)
			}
		}
		if changed == slices.Contains(old, app) {
			t.Fatalf("AppendMapping(%q, %q) changed = %v", content, app, changed)
		}
		again, changed, err := dubbo.AppendMapping(next, app)
		if err != nil || changed || again != next {
			t.Fatalf("appending %q twice changed %q to %q (%v)", app, next, again, err)
		}
	})
}

func ExampleAppendMapping() {
	content, changed, err := dubbo.AppendMapping("tianshu-interop-java-provider", "greeter")
	fmt.Println(content, changed, err)
	fmt.Println(dubbo.ParseMapping(content))
	// Output:
	// tianshu-interop-java-provider,greeter true <nil>
	// [greeter tianshu-interop-java-provider]
}
