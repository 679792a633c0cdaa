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
// log (the same error again, from a retrying watcher or a rewrite with the
// same mistake, is not reported again until a change succeeds).
//
// Every error about a value names the key and where the value came from: the
// document (a file path, a remote key), the variable or flag behind a key of
// the environment or the command line, or the default tag:
//
//	config: env APP_S__PORT: key "s.port": expected int, got string "8x"
//	config: /etc/app/app.yaml:3:7: invalid character ...
//	config: app.yaml, env APP_DB__PORT: key "db": validation failed: ...
//	config: p.yaml: key "a": placeholders form a cycle: a -> b -> a; ...
//
// Errors about loading or watching a source name it by its String method
// ("file /etc/app/app.yaml"). Keys with an empty segment ("s..port",
// APP_S____PORT) are rejected, not silently stored where no one reads them.
//
// Unknown keys: the type bound at a key describes the whole sub-tree there,
// so a key under it that no field names (a typo such as "max_con", a
// setting the program stopped reading) is by default logged once per key and
// source as a warning naming the key, its source and the nearest known key
// when one is a likely typo (a few edits away); the rest of the config is
// used. With StrictKeys such a key is an *UnknownKeyError (ErrUnknownKey):
// Bind and ScanKey fail and a reload carrying it is rejected. Keys outside
// every bound sub-tree are never judged, since Get may read them, and keys
// on the path of another Bind are left to that Value's type. A section (a
// map) right under the bound key that no field names is taken to be another
// component's, bound later or read with Get, unless it is spelled like a
// known key ("tracng" beside "tracing"). Fields of map or interface type
// take any key.
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
