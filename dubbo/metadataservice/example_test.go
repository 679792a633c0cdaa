package metadataservice_test

import (
	"context"
	"fmt"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tianshu-go/tianshu/dubbo/metadatapb"
	"github.com/tianshu-go/tianshu/dubbo/metadataservice"
)

// A provider serves the metadata of the revision it announces; a consumer fetches it by the
// revision it read from the registry.
func Example() {
	var st metadataservice.Store
	_ = st.Put(&metadatapb.MetadataInfoV2{
		App: "demo", Version: "1bd3876a5d159b48b89ff9b35f1f23e2",
		Services: map[string]*metadatapb.ServiceInfoV2{
			"demo.Echo:tri": {Name: "demo.Echo", Protocol: "tri", Port: 50051, Path: "demo.Echo"},
		},
	})
	srv := grpc.NewServer()
	metadataservice.Register(srv, &st)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	info, err := metadataservice.Fetch(context.Background(), conn, "demo", "1bd3876a5d159b48b89ff9b35f1f23e2")
	if err != nil {
		fmt.Println(err)
		return
	}
	s := info.GetServices()["demo.Echo:tri"]
	fmt.Println(info.GetApp(), s.GetName(), s.GetProtocol(), s.GetPort())
	// Output: demo demo.Echo tri 50051
}
