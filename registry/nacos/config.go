package nacos

import (
	"context"

	nacosconfig "github.com/tianshu-go/tianshu/config/nacos"
)

// ConfigOptions turns registry options, such as ParseURL returns, into those of a config
// source of package config/nacos: the servers' settings (namespace, credentials, directory,
// timeout, SDK log level, logger), the group, the retry backoff and WithConfigPoll. Options
// about registration (cluster, Dubbo naming, application) have no counterpart.
//
//	servers, opts, err := nacos.ParseURL(u)
//	src, err := nacosconfig.New(ctx, servers, []string{"app.yaml"}, nacos.ConfigOptions(opts...)...)
func ConfigOptions(opts ...Option) []nacosconfig.Option {
	o := defaults()
	for _, opt := range opts {
		opt(&o)
	}
	return configOptions(&o)
}

func configOptions(o *options) []nacosconfig.Option {
	out := []nacosconfig.Option{
		nacosconfig.WithNamespace(o.namespace),
		nacosconfig.WithGroup(o.group),
		nacosconfig.WithTimeout(o.timeout),
		nacosconfig.WithSDKLogLevel(o.sdkLevel),
		nacosconfig.WithLogger(o.log),
		nacosconfig.WithRetry(o.retry.Base, o.retry.Max),
		nacosconfig.WithPoll(max(o.poll, 0)), // the registry took a negative interval as none
	}
	if o.username != "" || o.password != "" {
		out = append(out, nacosconfig.WithAuth(o.username, o.password))
	}
	if o.dir != "" {
		out = append(out, nacosconfig.WithDir(o.dir))
	}
	return out
}

// Source is a config source over Nacos dataIds.
//
// Deprecated: use Source of package config/nacos; this alias goes in the next release.
type Source = nacosconfig.Source

// NewSource returns a Source over dataIDs. Call Close when done.
//
// Deprecated: use config/nacos.New(ctx, servers, dataIDs, opts...), with that package's
// options, or nacos.ConfigOptions(opts...) to carry registry options over.
func NewSource(ctx context.Context, servers []string, dataIDs []string, opts ...Option) (*Source, error) {
	o := defaults()
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	return nacosconfig.New(ctx, servers, dataIDs, configOptions(&o)...)
}
