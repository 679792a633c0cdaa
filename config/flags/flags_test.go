package flags_test

import (
	"context"
	"errors"
	"flag"
	"testing"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/config/flags"
)

func TestOnlyFlagsGivenOnTheCommandLineCount(t *testing.T) {
	fs := flag.NewFlagSet("app", flag.ContinueOnError)
	fs.String("db.host", "default-host", "")
	fs.Int("db.port", 1, "")
	if err := fs.Parse([]string{"-db.port", "9000"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.New(context.Background(), []config.Source{
		config.Bytes("a.yaml", "", []byte("db: {host: file-host, port: 1}\n")),
		flags.New(fs),
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := cfg.Get("db.port"); v != "9000" {
		t.Errorf("db.port = %v, want the flag's 9000", v)
	}
	if v, _ := cfg.Get("db.host"); v != "file-host" {
		t.Errorf("db.host = %v, want file-host (an unset flag's default must not win)", v)
	}
}

func TestLoadBeforeParseFails(t *testing.T) {
	_, err := flags.New(flag.NewFlagSet("x", flag.ContinueOnError)).Load(context.Background())
	if !errors.Is(err, flags.ErrNotParsed) {
		t.Fatalf("Load = %v, want ErrNotParsed", err)
	}
}
