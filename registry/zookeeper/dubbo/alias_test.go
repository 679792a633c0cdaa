package dubbo_test

import (
	"errors"
	"testing"

	"github.com/tianshu-go/tianshu/dubbo"
	old "github.com/tianshu-go/tianshu/registry/zookeeper/dubbo"
)

// Code written against the old path keeps compiling and sees the same values and errors.
func TestAliasesAreTheMovedNames(t *testing.T) {
	var u old.URL
	u, err := old.ParseURL("tri://127.0.0.1:50051/org.example.Greeter?side=provider")
	if err != nil {
		t.Fatal(err)
	}
	var n dubbo.URL = u
	if n.Path != "org.example.Greeter" {
		t.Errorf("path %q", n.Path)
	}
	if _, err := old.ParseNodeName("%zz"); !errors.Is(err, dubbo.ErrInvalidURL) || !errors.Is(err, old.ErrInvalidURL) {
		t.Errorf("ParseNodeName(bad) = %v, want ErrInvalidURL", err)
	}
	if old.KeyID != dubbo.KeyID || old.Release != dubbo.Release {
		t.Error("constants differ")
	}
}
