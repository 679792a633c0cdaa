package dubbo

import (
	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/registry"
)

// ErrInvalidURL is dubbo.ErrInvalidURL; errors.Is matches either.
//
// Deprecated: use dubbo.ErrInvalidURL.
var ErrInvalidURL = dubbo.ErrInvalidURL

// URL is dubbo.URL.
//
// Deprecated: use dubbo.URL.
type URL = dubbo.URL

// Publish is dubbo.Publish.
//
// Deprecated: use dubbo.Publish.
type Publish = dubbo.Publish

// The URL parameter names and defaults, as in package dubbo.
//
// Deprecated: use the constants of package dubbo.
const (
	KeyApplication  = dubbo.KeyApplication
	KeyInterface    = dubbo.KeyInterface
	KeyMethods      = dubbo.KeyMethods
	KeySide         = dubbo.KeySide
	KeyRelease      = dubbo.KeyRelease
	KeyTimestamp    = dubbo.KeyTimestamp
	KeyProtocol     = dubbo.KeyProtocol
	KeyVersion      = dubbo.KeyVersion
	KeyGroup        = dubbo.KeyGroup
	KeyWeight       = dubbo.KeyWeight
	KeyZone         = dubbo.KeyZone
	KeyID           = dubbo.KeyID
	KeyEndpoints    = dubbo.KeyEndpoints
	KeyDefaults     = dubbo.KeyDefaults
	Release         = dubbo.Release
	ProtocolVersion = dubbo.ProtocolVersion
)

// ParseURL calls dubbo.ParseURL.
//
// Deprecated: use dubbo.ParseURL.
func ParseURL(s string) (URL, error) { return dubbo.ParseURL(s) }

// ParseNodeName calls dubbo.ParseNodeName.
//
// Deprecated: use dubbo.ParseNodeName.
func ParseNodeName(name string) (URL, error) { return dubbo.ParseNodeName(name) }

// FromInstance calls dubbo.FromInstance.
//
// Deprecated: use dubbo.FromInstance.
func FromInstance(in *registry.Instance, p Publish) (URL, error) { return dubbo.FromInstance(in, p) }
