package loadbalance

import (
	"encoding/json"
	"errors"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// FuzzParseConfig feeds arbitrary JSON to a balancer's config parser, alone and inside a
// service config given to grpc.NewClient: it must never panic, grpc must take exactly the
// configs ParseConfig takes, and an accepted config must hold values the pickers can use and
// read back the same once written by MarshalJSON.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		`{}`, `null`, ``, `{"zone":"eu-1","version":"2.1"}`,
		`{"tagKey":"t","hashHeader":"x-k","virtualNodes":10000,"probeAfter":"1.5s","decay":"1m"}`,
		`{"ejectAfter":3,"ejectBase":"10s","ejectMax":"1s"}`,
		`{"probeAfter":"-1s"}`, `{"virtualNodes":-1}`, `{"zonee":"z"}`, `{"zone":"a"}}`, `[]`,
		`{"ZONE":"a","Zone":"b"}`, `{"ejectBase":"9223372036s"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, js []byte) {
		c, err := ParseConfig(js)
		if json.Valid(js) {
			cc, gerr := grpc.NewClient("passthrough:///fuzz",
				grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"`+P2C+`":`+string(js)+`}]}`))
			if gerr == nil {
				_ = cc.Close()
			}
			if (gerr == nil) != (err == nil) {
				t.Fatalf("%s: grpc says %v, ParseConfig says %v", js, gerr, err)
			}
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("%s: error %v does not wrap ErrInvalidConfig", js, err)
			}
			return
		}
		switch {
		case c.VirtualNodes < 0 || c.VirtualNodes > 10000 || c.EjectAfter < 0:
			t.Fatalf("%s: counts out of range: %+v", js, c)
		case c.ProbeAfter < 0 || c.Decay < 0 || c.EjectBase < 0 || c.EjectMax < 0:
			t.Fatalf("%s: a negative duration: %+v", js, c)
		case c.EjectMax != 0 && c.EjectMax < c.EjectBase:
			t.Fatalf("%s: ejectMax under ejectBase: %+v", js, c)
		case c.TagKey == "" || c.HashHeader == "":
			t.Fatalf("%s: no default for an empty key: %+v", js, c)
		}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("%+v: json.Marshal: %v", c, err)
		}
		again, err := ParseConfig(b)
		if err != nil || *again != *c {
			t.Fatalf("%s parsed as %+v, written as %s, read back as %+v, %v", js, c, b, again, err)
		}
	})
}
