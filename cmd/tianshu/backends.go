package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/tianshu-go/tianshu/cmd/tianshu/internal/cli"
	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/config/configurl"

	// Registry backends `tianshu registry` and `tianshu new --registry` know: one import each.
	_ "github.com/tianshu-go/tianshu/registry/eureka"
	_ "github.com/tianshu-go/tianshu/registry/file"
)

// configSources are the remote config sources `tianshu config` reads, by URL scheme (files
// are built in): every scheme package configurl opens.
func configSources() map[string]cli.ConfigOpener {
	m := map[string]cli.ConfigOpener{}
	for _, scheme := range configurl.Schemes() {
		if scheme != "file" {
			m[scheme] = openConfig
		}
	}
	return m
}

func openConfig(ctx context.Context, rawURL string) (config.Source, io.Closer, error) {
	src, closer, err := configurl.Open(ctx, rawURL)
	if errors.Is(err, configurl.ErrURL) {
		err = fmt.Errorf("%w: %w", cli.ErrUsage, err)
	}
	return src, closer, err
}
