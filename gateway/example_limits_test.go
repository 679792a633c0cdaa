package gateway_test

import (
	"fmt"

	"github.com/tianshu-go/tianshu/gateway"
)

// A route to an upstream that demands a client certificate (mutual TLS), whose answers may
// be at most 1 MiB; Parse checks the document, Apply reads the certificate files.
func ExampleUpstreamTLS() {
	c, err := gateway.Parse([]byte(`
gateway:
  routes:
    - name: payments
      match: {path: {prefix: /payments}}
      target:
        urls: ["https://10.0.0.7:8443"]
        tls: {caFile: /etc/gateway/payments-ca.pem, certFile: /etc/gateway/client.pem, keyFile: /etc/gateway/client-key.pem}
      maxResponseBytes: 1048576
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	r := c.Routes[0]
	fmt.Println(r.Target.TLS.CertFile, r.MaxResponseBytes)

	// An http:// URL cannot carry TLS: the whole document is refused.
	_, err = gateway.Parse([]byte(`gateway: {routes: [{name: a, match: {path: {exact: /}}, target: {urls: ["http://10.0.0.7:80"], tls: {caFile: ca.pem}}}]}`))
	fmt.Println(err)
	// Output:
	// /etc/gateway/client.pem 1048576
	// gateway: config: gateway.yaml: key "gateway": validation failed: gateway: invalid routes: routes[0].target.urls[0]: "http://10.0.0.7:80" with tls: want an https:// URL
}
