package config_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/config/env"
)

type DBConfig struct {
	Host    string        `config:"host,required"`
	Port    int           `config:"port" default:"5432"`
	Timeout time.Duration `config:"timeout" default:"3s"`
	Replica []string      `config:"replicas"`
}

func (c *DBConfig) Validate() error {
	if c.Port <= 0 || c.Port > 65535 {
		return fmt.Errorf("port %d out of range", c.Port)
	}
	return nil
}

func Example() {
	ctx := context.Background()
	defaults := []byte("db:\n  host: localhost\n  timeout: 1s\n  replicas: [r1, r2]\n")
	environ := func() []string { return []string{"APP_DB__HOST=db.internal", "APP_DB__PORT=6432"} }

	cfg, err := config.New(ctx, []config.Source{
		config.Bytes("defaults.yaml", "", defaults),
		env.New("APP", env.WithEnviron(environ)), // the environment wins over the file
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cfg.Close()

	db, err := config.Bind[DBConfig](cfg, "db")
	if err != nil {
		fmt.Println(err)
		return
	}
	d := db.Load() // cheap, lock-free; call it on every use to see reloads
	fmt.Println(d.Host, d.Port, d.Timeout, d.Replica)

	bad, _ := config.New(ctx, []config.Source{config.Bytes("bad.yaml", "", []byte("db: {host: h, port: 70000, timeout: 5}\n"))})
	defer bad.Close()
	_, err = config.Bind[DBConfig](bad, "db")
	fmt.Println(errors.Is(err, config.ErrType), errors.Is(err, config.ErrInvalid))
	fmt.Println(err)
	// Output:
	// db.internal 6432 1s [r1 r2]
	// true false
	// config: bad.yaml: key "db.timeout": expected duration such as "1.5s" (a number needs a unit), got int64 5
}
