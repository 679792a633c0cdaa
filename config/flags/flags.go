package flags

import (
	"context"
	"errors"
	"flag"

	"github.com/tianshu-go/tianshu/config"
)

// Source turns the flags given on a command line into config keys. Create it
// with New.
type Source struct {
	fs *flag.FlagSet
}

// New returns a Source over fs. Name flags after the keys they set
// (-db.host=x sets "db.host"). Only flags that were given on the command
// line count: a flag's default must not override a file or the environment,
// so defaults belong in the struct's default tags or a defaults document.
func New(fs *flag.FlagSet) *Source { return &Source{fs: fs} }

// ErrNotParsed is returned by Load before the flag set was parsed.
var ErrNotParsed = errors.New("config/flags: flag set not parsed yet")

// Load implements config.Source. Call it, or config.New, after fs.Parse.
func (s *Source) Load(ctx context.Context) ([]config.Document, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !s.fs.Parsed() {
		return nil, ErrNotParsed
	}
	values := map[string]string{}
	origins := map[string]string{}
	s.fs.Visit(func(f *flag.Flag) {
		values[f.Name] = f.Value.String()
		origins[f.Name] = "flag -" + f.Name
	})
	if len(values) == 0 {
		return nil, nil
	}
	doc := config.PropertiesDocument(s.String(), values)
	doc.Origins = origins // errors name the flag, not the whole command line
	return []config.Document{doc}, nil
}

// String names the source in errors: "flags" and the flag set's name.
func (s *Source) String() string { return "flags " + s.fs.Name() }

// Watch implements config.Source: flags are fixed once parsed, so it returns
// config.ErrNotWatchable.
func (s *Source) Watch(context.Context) (config.Watcher, error) { return nil, config.ErrNotWatchable }
