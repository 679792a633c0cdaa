package dubbo

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrInvalidAppName is wrapped by AppendMapping's error for a name the mapping cannot hold.
var ErrInvalidAppName = errors.New("dubbo: invalid application name")

// ParseMapping returns the application names in the content of an interface's mapping
// (/dubbo/mapping/<interface> in ZooKeeper, config <interface> in group "mapping" in
// Nacos): split on commas, trimmed, without empty names and duplicates, sorted, as Dubbo's
// ServiceNameMapping.getAppNames reads it. Any content is accepted: the node is shared with
// every Dubbo application, and one bad entry must not hide the others.
func ParseMapping(content string) []string {
	var apps []string
	for _, a := range strings.Split(content, ",") {
		if a = strings.TrimSpace(a); a != "" {
			apps = append(apps, a)
		}
	}
	slices.SortFunc(apps, func(a, b string) int {
		// Byte order breaks the ties of invalid UTF-8, which Java reads as U+FFFD, so
		// that equal names end up next to each other.
		if c := compareJava(a, b); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return slices.Compact(apps)
}

// AppendMapping returns the content of an interface's mapping with app added as Dubbo's
// MetadataServiceNameMapping adds it: unchanged (and changed false) when app is already
// listed, else the old content, a comma and app, or app alone when the content is empty.
// The caller writes the new content only if the node has not changed since it read the old
// one (compare-and-set), and starts over when it has.
func AppendMapping(content, app string) (newContent string, changed bool, err error) {
	if err := checkAppName(app); err != nil {
		return "", false, err
	}
	if slices.Contains(ParseMapping(content), app) {
		return content, false, nil
	}
	if strings.TrimSpace(content) == "" {
		return app, true, nil
	}
	return content + "," + app, true, nil
}

// checkAppName refuses names that would not read back as themselves from the mapping.
func checkAppName(app string) error {
	switch {
	case app == "":
		return fmt.Errorf("%w: empty", ErrInvalidAppName)
	case !utf8.ValidString(app):
		return fmt.Errorf("%w %q: not UTF-8", ErrInvalidAppName, app)
	case strings.Contains(app, ","):
		return fmt.Errorf("%w %q: the mapping separates names with commas", ErrInvalidAppName, app)
	case strings.TrimFunc(app, unicode.IsSpace) != app:
		return fmt.Errorf("%w %q: Dubbo trims the names it reads", ErrInvalidAppName, app)
	}
	return nil
}
