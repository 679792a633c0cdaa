// Package config fills plain Go structs from layered sources and keeps them
// current without ever installing a bad config.
//
// A Source (a file, the environment, flags, a ZooKeeper node, a Nacos
// dataId, an etcd prefix) yields named documents in YAML, JSON, TOML or Java
// .properties. New merges the sources in order, later over earlier: list
// them as defaults, files, remote, environment, flags. Keys nest and are
// addressed as "a.b.c", matched case-insensitively. String values may hold
// ${NAME} or ${NAME:default}, resolved against the merged config, then the
// environment.
//
// Bind decodes a key into a typed Value and keeps it current: a change is
// decoded and validated (struct tags, Validate methods, WithValidator)
// before anything is stored; a change that fails leaves the last good values
// live, calls no observer, and is reported once to WithErrorHandler and the
// log.
//
// The shortest use:
//
//	cfg, err := config.New(ctx, []config.Source{file.New("app.yaml"), env.New("APP")})
//	if err != nil { ... }
//	defer cfg.Close()
//	db, err := config.Bind[DBConfig](cfg, "db")
//	if err != nil { ... }
//	connect(db.Load().Host)
//
// Backend authors implement Source and Watcher (Mailbox helps) and run
// config/configtest against their real servers.
package config
