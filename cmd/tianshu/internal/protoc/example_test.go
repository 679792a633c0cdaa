package protoc_test

import (
	"fmt"

	"github.com/tianshu-go/tianshu/cmd/tianshu/internal/protoc"
)

func ExampleFind() {
	files, err := protoc.Find("testdata")
	fmt.Println(files, err)
	// Output:
	// [shop/v1/shop.proto shop/v1/types.proto] <nil>
}
