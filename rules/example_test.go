package rules_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/config/file"
	"github.com/tianshu-go/tianshu/rules"
)

// A consumer follows the rules in a file (any config source works the same way) and reads
// the policy of a call.
func ExampleWatch() {
	dir, _ := os.MkdirTemp("", "rules")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "rules.yaml")
	_ = os.WriteFile(path, []byte(`rules:
  services:
    orders:
      methods:
        /shop.Orders/PlaceOrder: {timeout: 500ms, retries: {attempts: 2, budget: 0.1}}
  defaults:
    methods:
      "*": {timeout: 5s}
`), 0o644)

	store, err := rules.Watch(context.Background(), []config.Source{file.New(path)},
		rules.WithErrorHandler(func(err error) { fmt.Println("rejected:", err) }))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close() // or tianshu.WithCloser(store)

	p, _ := store.Load().PolicyFor("orders", "/shop.Orders/PlaceOrder")
	fmt.Println(p.Timeout, p.Retries.Attempts)
	p, _ = store.Load().PolicyFor("billing", "/shop.Billing/Pay")
	fmt.Println(p.Timeout)
	// Output:
	// 500ms 2
	// 5s
}

// A tool checks a document before it is written; the error names the place at fault.
func ExampleRead() {
	dir, _ := os.MkdirTemp("", "rules")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "rules.yaml")
	_ = os.WriteFile(path, []byte(`rules:
  services:
    orders:
      instances:
        - {id: orders-1, address: 127.0.0.1:9000, out: true}
`), 0o644)

	_, err := rules.Read(context.Background(), []config.Source{file.New(path)})
	fmt.Println(errors.Is(err, rules.ErrInvalid))
	// Output:
	// true
}
