package rpc

import (
	"context"

	"google.golang.org/grpc/metadata"

	"github.com/tianshu-go/tianshu/loadbalance"
)

// DubboTag is Dubbo's tag (CommonConstants.TAG_KEY): the Triple header, or attachment,
// naming the tag of a call, and the instance metadata (a provider URL parameter in Dubbo)
// naming a provider's tag. A WithDubbo connection reads providers' tags from it unless
// WithRouting names another key. A Tianshu provider carries a tag as Dubbo providers do
// with rpc.WithMetadata(map[string]string{rpc.DubboTag: "gray"}): the Dubbo layouts of
// registry/zookeeper and registry/nacos write it as the dubbo.tag parameter of its URL,
// which Dubbo consumers' tag routers read.
const DubboTag = "dubbo.tag"

// WithDubboTag returns a context whose calls carry the Dubbo tag tag, as a Dubbo consumer's
// calls carry the dubbo.tag attachment: the balancer sends them to the providers of that
// tag (their dubbo.tag metadata, or a tag router of Dubbo Admin, see package dubbo/admin)
// and to the untagged ones when there is none, and the tag travels on as the dubbo.tag
// header, which Java providers read as the attachment and pass on to their own calls.
func WithDubboTag(ctx context.Context, tag string) context.Context {
	return metadata.AppendToOutgoingContext(loadbalance.WithTag(ctx, tag), DubboTag, tag)
}
