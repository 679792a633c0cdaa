package zookeeper

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/registry"
)

// Layout selects how instances are stored in ZooKeeper.
type Layout int

const (
	// LayoutTianshu stores each instance as <root>/<service>/providers/<instance ID>, an
	// ephemeral node holding a JSON document. The default root is /tianshu.
	LayoutTianshu Layout = iota
	// LayoutDubbo stores each instance as Dubbo's interface-level registry does:
	// <root>/<interface>/providers/<URL-encoded tri:// URL>, an empty ephemeral node, where
	// the service name is the interface name. The default root is /dubbo.
	LayoutDubbo
)

// String returns the name the layout URL parameter takes: tianshu or dubbo.
func (l Layout) String() string {
	switch l {
	case LayoutTianshu:
		return "tianshu"
	case LayoutDubbo:
		return "dubbo"
	}
	return "Layout(" + strconv.Itoa(int(l)) + ")"
}

func (l Layout) defaultRoot() string {
	if l == LayoutDubbo {
		return "/dubbo"
	}
	return "/tianshu"
}

// nodeFormat is written into every node of the Tianshu layout. Readers skip nodes of a newer
// format rather than guess at their meaning.
const nodeFormat = 1

// nodeDoc is the data of a provider node in the Tianshu layout.
type nodeDoc struct {
	Format   int                `json:"format"`
	Instance *registry.Instance `json:"instance"`
}

// maxNodeData bounds the data a reader decodes; ZooKeeper's own limit is 1 MiB.
const maxNodeData = 1 << 20

// encodeNode returns the node name and data under which the layout stores in. prev is the
// node this Registry wrote for the same instance before, if any: the Dubbo layout keeps its
// name (and its timestamp) when nothing else changed, so re-registering is not a change.
func (l Layout) encodeNode(in *registry.Instance, prev *ownNode, pub dubbo.Publish) (name string, data []byte, err error) {
	if l == LayoutDubbo {
		if prev != nil && prev.in.Equal(in) {
			return prev.name, prev.data, nil
		}
		u, err := dubbo.FromInstance(in, pub)
		if err != nil {
			return "", nil, err
		}
		return u.NodeName(), nil, nil
	}
	b, err := json.Marshal(nodeDoc{Format: nodeFormat, Instance: in})
	if err != nil {
		return "", nil, fmt.Errorf("%w: instance %q of %q: %w", registry.ErrInvalidInstance, in.ID, in.Service, err)
	}
	return in.ID, b, nil
}

// decodeNode reads the instance stored as node name with data under service's providers
// node. rank orders nodes that carry the same instance ID (the Dubbo layout writes a new node
// before removing the old one when an instance changes): the higher rank wins.
func (l Layout) decodeNode(service, name string, data []byte) (in *registry.Instance, rank int64, err error) {
	if l == LayoutDubbo {
		u, err := dubbo.ParseNodeName(name)
		if err != nil {
			return nil, 0, err
		}
		in, err := u.Instance(service)
		if err != nil {
			return nil, 0, err
		}
		ts, _ := strconv.ParseInt(u.Params[dubbo.KeyTimestamp], 10, 64)
		return in, ts, nil
	}
	in, err = parseNodeDoc(service, name, data)
	return in, 0, err
}

// parseNodeDoc decodes and checks a node of the Tianshu layout. Unknown fields are allowed so
// that a later minor change can add some; a newer format number is refused.
func parseNodeDoc(service, name string, data []byte) (*registry.Instance, error) {
	if len(data) > maxNodeData {
		return nil, fmt.Errorf("node data of %d bytes is larger than %d", len(data), maxNodeData)
	}
	var doc nodeDoc
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("not an instance document: %w", err)
	}
	if dec.More() {
		return nil, errors.New("not an instance document: data after the JSON object")
	}
	if doc.Format != nodeFormat {
		return nil, fmt.Errorf("document format %d, this reader understands %d", doc.Format, nodeFormat)
	}
	if err := doc.Instance.Validate(); err != nil {
		return nil, err
	}
	if doc.Instance.Service != service {
		return nil, fmt.Errorf("instance of service %q stored under service %q", doc.Instance.Service, service)
	}
	if doc.Instance.ID != name {
		return nil, fmt.Errorf("instance %q stored in node %q", doc.Instance.ID, name)
	}
	return doc.Instance, nil
}

// needsData reports whether a node's data must be read (and watched) to know its instance:
// Dubbo nodes carry everything in their names.
func (l Layout) needsData() bool { return l != LayoutDubbo }

// dedupe keeps one instance per ID, the one of highest rank, and returns them sorted by ID.
func dedupe(nodes map[string]*node) []*registry.Instance {
	best := make(map[string]*node, len(nodes))
	for name, n := range nodes {
		if n.in == nil {
			continue
		}
		b, ok := best[n.in.ID]
		if !ok || n.rank > b.rank || n.rank == b.rank && name > b.name {
			best[n.in.ID] = n
		}
	}
	list := make([]*registry.Instance, 0, len(best))
	for _, n := range best {
		list = append(list, n.in)
	}
	registry.SortInstances(list)
	return list
}

// node is a child of a providers node as last read: its instance, or nil when it holds
// garbage.
type node struct {
	name string
	in   *registry.Instance
	rank int64
}
