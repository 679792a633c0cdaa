// Package flags is a config.Source over the command-line flags that were
// actually given; list it last so that it overrides every other layer.
//
//	flag.String("db.host", "", "database host")
//	flag.Parse()
//	cfg, err := config.New(ctx, []config.Source{file.New("app.yaml"), env.New("APP"), flags.New(flag.CommandLine)})
package flags
