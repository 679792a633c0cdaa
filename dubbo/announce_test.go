package dubbo_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/dubbo"
)

const (
	vector3Greeter = "tri://127.0.0.1:50051/tianshu.interop.v1.Greeter?anyhost=true&application=greeter&bind.ip=127.0.0.1&bind.port=50051&deprecated=false&dubbo=2.0.2&dynamic=true&generic=false&group=interop&interface=tianshu.interop.v1.Greeter&methods=Greet&pid=4242&release=tianshu-0.1.0&side=provider&timestamp=1700000000000&version=1.0.0"
	vector3Echo    = "tri://127.0.0.1:50051/tianshu.interop.v1.Echo?application=greeter&dubbo=2.0.2&interface=tianshu.interop.v1.Echo&methods=Echo,Stream&release=tianshu-0.1.0&side=provider"
)

func TestRegisterModeRoundTrips(t *testing.T) {
	for _, m := range []dubbo.RegisterMode{dubbo.RegisterAll, dubbo.RegisterInterface, dubbo.RegisterInstance} {
		got, err := dubbo.ParseRegisterMode(m.String())
		if err != nil || got != m {
			t.Errorf("ParseRegisterMode(%q) = %v, %v; want %v", m, got, err, m)
		}
		if err := m.Check(); err != nil {
			t.Errorf("%v.Check() = %v", m, err)
		}
	}
	if _, err := dubbo.ParseRegisterMode("both"); !errors.Is(err, dubbo.ErrInvalidRegisterMode) {
		t.Errorf("ParseRegisterMode(both) = %v, want ErrInvalidRegisterMode", err)
	}
	if err := dubbo.RegisterMode(7).Check(); !errors.Is(err, dubbo.ErrInvalidRegisterMode) {
		t.Errorf("RegisterMode(7).Check() = %v, want ErrInvalidRegisterMode", err)
	}
	if !dubbo.RegisterAll.Interface() || !dubbo.RegisterAll.Instance() ||
		dubbo.RegisterInterface.Instance() || dubbo.RegisterInstance.Interface() {
		t.Error("the levels of the modes are wrong")
	}
}

// The revision an Announcer announces for the two services of vector 3, exported at one
// address, is Dubbo's; it changes when a service goes, and the metadata of the revision
// before stays served for consumers that read it just before.
func TestAnnouncerRevisionFollowsTheServices(t *testing.T) {
	started := time.UnixMilli(1700000000000)
	a, err := dubbo.NewAnnouncer("greeter", started)
	if err != nil {
		t.Fatal(err)
	}
	const addr = "127.0.0.1:50051"
	if got, err := a.Export("greeter/1", mustParse(t, vector3Greeter)); err != nil || fmt.Sprint(got) != "["+addr+"]" {
		t.Fatalf("Export = %v, %v; want [%s]", got, err, addr)
	}
	one, ok := a.Instance(addr)
	if !ok {
		t.Fatal("no instance after Export")
	}
	if got, err := a.Export("echo/1", mustParse(t, vector3Echo)); err != nil || fmt.Sprint(got) != "["+addr+"]" {
		t.Fatalf("Export = %v, %v", got, err)
	}
	two, _ := a.Instance(addr)
	if got, want := two.Revision(), "ce8e33ccc6cbbcf12835e46d1a0b81a2"; got != want {
		t.Errorf("revision of two services = %s, want Dubbo's %s", got, want)
	}
	if one.Revision() == two.Revision() {
		t.Error("the revision did not change when a service was added")
	}
	if two.Metadata[dubbo.MetaTimestamp] != "1700000000000" || two.Metadata[dubbo.MetaVersion] != dubbo.MetadataServiceV2 {
		t.Errorf("instance metadata %v", two.Metadata)
	}
	md, ok := a.MetadataInfo(two.Revision())
	if !ok || len(md.Services) != 2 || md.Revision() != two.Revision() {
		t.Errorf("MetadataInfo(%s) = %v, %v", two.Revision(), md, ok)
	}
	if got := a.Unexport("echo/1"); got != addr {
		t.Errorf("Unexport = %q, want %s", got, addr)
	}
	back, _ := a.Instance(addr)
	if back.Revision() != one.Revision() {
		t.Errorf("revision after Unexport = %s, want the one-service %s", back.Revision(), one.Revision())
	}
	if _, ok := a.MetadataInfo(two.Revision()); !ok {
		t.Error("the retired revision is no longer served")
	}
	if got := a.Unexport("echo/1"); got != "" {
		t.Errorf("second Unexport = %q, want nothing", got)
	}
	a.Unexport("greeter/1")
	if _, ok := a.Instance(addr); ok || len(a.Addresses()) != 0 {
		t.Errorf("an instance is left after the last service went: %v", a.Addresses())
	}
}

func TestAnnouncerMovesAServiceBetweenAddresses(t *testing.T) {
	a, _ := dubbo.NewAnnouncer("greeter", time.Now())
	u := mustParse(t, vector3Echo)
	_, _ = a.Export("echo/1", u)
	u.Port = 50052
	got, err := a.Export("echo/1", u)
	if err != nil || fmt.Sprint(got) != "[127.0.0.1:50051 127.0.0.1:50052]" {
		t.Fatalf("Export = %v, %v; want both addresses", got, err)
	}
	if fmt.Sprint(a.Addresses()) != "[127.0.0.1:50052]" {
		t.Errorf("Addresses = %v", a.Addresses())
	}
}

func TestAnnouncerRefusesWhatItCannotAnnounce(t *testing.T) {
	if _, err := dubbo.NewAnnouncer("a,b", time.Now()); !errors.Is(err, dubbo.ErrInvalidAppName) {
		t.Errorf("NewAnnouncer(a,b) = %v, want ErrInvalidAppName", err)
	}
	a, _ := dubbo.NewAnnouncer("greeter", time.Now())
	if _, err := a.Export("k", dubbo.URL{Protocol: "tri", Path: "x"}); !errors.Is(err, dubbo.ErrInvalidInstance) {
		t.Errorf("Export without address = %v, want ErrInvalidInstance", err)
	}
}
