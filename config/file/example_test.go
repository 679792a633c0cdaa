package file_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/config/file"
)

// replace writes a file the way deploy tools should: a new file renamed
// over the old, so a reader never sees it half-written.
func replace(path, content string) {
	_ = os.WriteFile(path+".new", []byte(content), 0o644)
	_ = os.Rename(path+".new", path)
}

func ExampleNew() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "app.yaml")
	replace(path, "http: {port: 8080}\n")

	rejected := make(chan error, 1)
	cfg, err := config.New(context.Background(), []config.Source{file.New(path)},
		config.WithErrorHandler(func(err error) { rejected <- err }))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cfg.Close()

	type HTTP struct {
		Port int `config:"port,required"`
	}
	http, _ := config.Bind[HTTP](cfg, "http")
	changed := make(chan struct{})
	http.OnChange(func(old, new *HTTP) {
		fmt.Println("port", old.Port, "->", new.Port)
		changed <- struct{}{}
	})
	fmt.Println("port", http.Load().Port)

	replace(path, "http: {port: eighty}\n")
	// The error names the file: the temporary directory is elided here.
	fmt.Println("rejected:", strings.ReplaceAll((<-rejected).Error(), dir, "$DIR"))
	fmt.Println("still", http.Load().Port)

	replace(path, "http: {port: 9090}\n")
	<-changed
	// Output:
	// port 8080
	// rejected: config: $DIR/app.yaml: key "http.port": expected int, got string "eighty"
	// still 8080
	// port 8080 -> 9090
}
