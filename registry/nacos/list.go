package nacos

import (
	"context"
	"fmt"
	"slices"

	"github.com/nacos-group/nacos-sdk-go/v2/vo"

	"github.com/tianshu-go/tianshu/registry"
)

var _ registry.ServiceLister = (*Registry)(nil)

// listPage is how many service names ListServices asks Nacos for at a time.
const listPage = 500

// ListServices returns the services of the Registry's namespace and group, sorted, as Nacos
// names them (with WithDubboNaming, the providers:<interface>:<version>:<group> names).
// Nacos keeps a service some time after its last instance left, so a listed service may
// have none.
func (r *Registry) ListServices(ctx context.Context) ([]string, error) {
	if r.isClosed() {
		return nil, fmt.Errorf("nacos: list services: %w", registry.ErrClosed)
	}
	var names []string
	for page := uint32(1); ; page++ {
		// The SDK's call takes no context; it is bounded by WithTimeout.
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("nacos: list services: %w: %w", registry.ErrUnavailable, err)
		}
		list, err := r.n.cli.GetAllServicesInfo(vo.GetAllServiceInfoParam{
			NameSpace: r.o.namespace, GroupName: r.o.group, PageNo: page, PageSize: listPage,
		})
		if err != nil {
			return nil, fmt.Errorf("nacos: list services: %w", classify(err))
		}
		for _, name := range list.Doms {
			if registry.ValidateName("service", name) == nil {
				names = append(names, name)
			}
		}
		if len(list.Doms) < listPage || int64(page)*listPage >= list.Count {
			break
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}
