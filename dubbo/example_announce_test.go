package dubbo_test

import (
	"fmt"
	"time"

	"github.com/tianshu-go/tianshu/dubbo"
)

// A backend tells the Announcer what it registers, writes the instance of each address it
// returns, and serves the metadata of the revision that instance names.
func ExampleAnnouncer() {
	a, err := dubbo.NewAnnouncer("greeter", time.UnixMilli(1700000000000))
	if err != nil {
		panic(err)
	}
	u, _ := dubbo.ParseURL("tri://127.0.0.1:50051/tianshu.interop.v1.Echo?application=greeter&dubbo=2.0.2&interface=tianshu.interop.v1.Echo&methods=Echo,Stream&release=tianshu-0.1.0&side=provider")
	addrs, _ := a.Export("tianshu.interop.v1.Echo/echo-1", u)
	for _, addr := range addrs {
		in, _ := a.Instance(addr)
		md, _ := a.MetadataInfo(in.Revision())
		fmt.Println(in.App, in.ID, in.Metadata[dubbo.MetaVersion], in.Metadata[dubbo.MetaTimestamp])
		fmt.Println(len(in.Revision()), len(md.Services))
	}
	fmt.Println(a.Unexport("tianshu.interop.v1.Echo/echo-1"))
	_, ok := a.Instance("127.0.0.1:50051")
	fmt.Println(ok)
	// Output:
	// greeter 127.0.0.1:50051 2.0.0 1700000000000
	// 32 1
	// 127.0.0.1:50051
	// false
}
