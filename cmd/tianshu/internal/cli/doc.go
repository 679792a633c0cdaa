// Package cli is the tianshu command: `new` and `gen` write and regenerate services,
// `registry ls|watch` and `config get|set|watch` inspect a running system's registry and
// configuration. The main package only wires it to the process:
//
//	os.Exit((&cli.CLI{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}).Main(ctx, os.Args[1:]))
package cli
