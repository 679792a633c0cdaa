package dubbo

import (
	"slices"
	"testing"
	"unicode/utf16"
)

// FuzzCompareJava: the allocation-free comparison orders strings as Java's String.compareTo
// does, that is as their UTF-16 code units (the reference here), invalid UTF-8 read as
// U+FFFD as Java's decoder reads it.
func FuzzCompareJava(f *testing.F) {
	f.Add("\U0001F600", "\uFF61")
	f.Add("\U0001F600", "\U0001F601")
	f.Add("\U00010400", "\U0001F600")
	f.Add("ab", "a")
	f.Add("\xff", "\uFFFD")
	f.Add("REGISTRY_CLUSTER", "application")
	f.Fuzz(func(t *testing.T, a, b string) {
		want := slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b)))
		if got := compareJava(a, b); got != want {
			t.Fatalf("compareJava(%q, %q) = %d, want %d", a, b, got, want)
		}
	})
}
