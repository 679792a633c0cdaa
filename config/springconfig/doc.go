// Package springconfig is a config.Source over a Spring Cloud Config Server: a Go service
// reads the configuration that the Spring services beside it read, from the same server and
// files.
//
//	src, err := springconfig.New([]string{"http://config:8888"}, "orders",
//		springconfig.WithProfiles("prod"), springconfig.WithPoll(30*time.Second))
//	if err != nil { ... } // ErrInvalidConfig
//	cfg, err := config.New(ctx, []config.Source{file.New("app.yaml"), src})
//
// The source asks for /{application}/{profiles}[/{label}], the request Spring's config
// client makes for spring.application.name={application}, and gets Spring's Environment: a
// list of property sources, highest precedence first (orders-prod.yml, application-prod.yml,
// orders.yml, application.yml). Each becomes one document, in the reverse order, since a
// config.Source's later document overrides an earlier one: the merged config gives every key
// the value Spring's Environment gives it. The server sends each source's keys flat, as
// Spring sees them ("db.hosts[0].port"); the document nests them again (a map db with a list
// hosts), so that config.Bind fills structs and slices as from a YAML file, and keeps the
// types the server sent (numbers and booleans from YAML files, strings from .properties,
// which config.Bind converts). Two things Spring accepts have no nested form and make the
// answer ErrBadResponse: a key that is both a value and a section ("a=1" beside "a.b=2" in
// one file) and a list without one of its elements.
//
// Lists do not merge across documents: a list in orders-prod.yml replaces application.yml's
// whole, as Spring's binder does. Maps merge key by key in both.
//
// The server pushes nothing. A watcher polls every WithPoll interval (default 30 s, the
// longest a change takes to arrive) and delivers a snapshot when the answer's content
// changed: Spring's "version" field is a commit id on git and null on the native profile,
// so the watcher compares a hash of the whole answer instead. A server that is down,
// answers 500 or sends malformed JSON leaves the last good config in place; the error is
// reported once (through the Config's error handler and log) until the server answers
// well again.
//
// Several server URLs are tried in order on each request, as Spring's
// spring.cloud.config.uri list is; a server that cannot be reached or answers 5xx passes
// the request to the next.
package springconfig
