package eureka

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/tianshu-go/tianshu/registry"
)

var _ registry.ServiceLister = (*Registry)(nil)

// ListServices returns the services the server holds instances of, in any status, sorted.
// Eureka keeps application names upper-cased; a service is named as its instances' VIP
// address gives it (the name Tianshu and Spring registered it under) when that matches the
// application, else by the application name in lower case.
func (r *Registry) ListServices(ctx context.Context) ([]string, error) {
	if r.isClosed() {
		return nil, fmt.Errorf("eureka: list services: %w", registry.ErrClosed)
	}
	resp, err := r.c.do(ctx, http.MethodGet, "/apps/", nil)
	if err != nil {
		return nil, fmt.Errorf("eureka: list services: %w", err)
	}
	if resp.status != http.StatusOK {
		return nil, fmt.Errorf("eureka: list services: %w", statusError("GET /apps/", resp))
	}
	apps, err := parseApplications(resp.body)
	if err != nil {
		return nil, fmt.Errorf("eureka: list services from %s: %w", resp.server, err)
	}
	out := make([]string, 0, len(apps.Application))
	for _, app := range apps.Application {
		if len(app.Instance) == 0 {
			continue
		}
		name := strings.ToLower(app.Name)
		for _, in := range app.Instance {
			if strings.EqualFold(in.VIPAddress, app.Name) {
				name = in.VIPAddress
				break
			}
		}
		if registry.ValidateName("service", name) == nil {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
