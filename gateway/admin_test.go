package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tianshu-go/tianshu/gateway"
)

func TestAdminAPIShowsRoutesUpstreamsAndBreakersWithoutSecrets(t *testing.T) {
	up := startEcho(t, "up")
	g, base := newGateway(t, fmt.Sprintf(`
gateway:
  routes:
    - name: private
      match: {path: {prefix: /}}
      target: {urls: [%q]}
      breaker: {failureRatio: 0.5}
      auth: {jwt: {secret: %s}, apiKeys: {key-0123456789abcdef: ci}}
`, up.srv.URL, secret))
	do(t, nil, "GET", base+"/x", map[string]string{"X-API-Key": "key-0123456789abcdef"}, "")
	admin := httptest.NewServer(g.AdminHandler())
	defer admin.Close()

	got := do(t, nil, "GET", admin.URL+"/routes", nil, "")
	if got.status != 200 || !strings.Contains(got.body, `"name": "private"`) || !strings.Contains(got.body, `"generation": 1`) {
		t.Errorf("/routes: %d %s", got.status, got.body)
	}
	if strings.Contains(got.body, secret) || strings.Contains(got.body, "key-0123456789abcdef") {
		t.Errorf("/routes shows a secret: %s", got.body)
	}
	got = do(t, nil, "GET", admin.URL+"/upstreams", nil, "")
	var ups []gateway.UpstreamState
	if err := json.Unmarshal([]byte(got.body), &ups); err != nil {
		t.Fatalf("/upstreams: %v: %s", err, got.body)
	}
	if len(ups) != 1 || len(ups[0].Instances) != 1 || len(ups[0].Breakers) != 1 || ups[0].Breakers[0].State != "closed" || ups[0].Breakers[0].Requests != 1 {
		t.Errorf("/upstreams: %s", got.body)
	}
	if got := do(t, nil, "POST", admin.URL+"/routes", nil, ""); got.status != 405 || got.err.Code == "" {
		t.Errorf("a POST to the read-only API: %d %s", got.status, got.body)
	}
}
