//go:build ignore

// gendeps writes google/api/annotations.proto and the files it imports, as the genproto
// module links them into Go, as a FileDescriptorSet to the file its argument names. gen.sh
// hands it to protoc --descriptor_set_in, so that shop.proto compiles against the very
// descriptors the program links and no copy of Google's .proto files is needed.
package main

import (
	"fmt"
	"os"

	_ "google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run gendeps.go OUT")
		os.Exit(2)
	}
	root, err := protoregistry.GlobalFiles.FindFileByPath("google/api/annotations.proto")
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendeps:", err)
		os.Exit(1)
	}
	// protoc wants a file's imports before the file itself: a depth-first walk, each file
	// written after everything it imports.
	var set descriptorpb.FileDescriptorSet
	done := map[string]bool{}
	var walk func(protoreflect.FileDescriptor)
	walk = func(fd protoreflect.FileDescriptor) {
		if done[fd.Path()] {
			return
		}
		done[fd.Path()] = true
		imports := fd.Imports()
		for i := range imports.Len() {
			walk(imports.Get(i).FileDescriptor)
		}
		set.File = append(set.File, protodesc.ToFileDescriptorProto(fd))
	}
	walk(root)
	data, err := proto.Marshal(&set)
	if err == nil {
		err = os.WriteFile(os.Args[1], data, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendeps:", err)
		os.Exit(1)
	}
}
