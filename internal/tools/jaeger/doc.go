// Package jaeger pins the Jaeger v2 all-in-one server that Tianshu's tracing tests export
// to. It is a tools module of its own so that Jaeger's large dependency graph and its
// replace directives stay out of Tianshu's go.mod; scripts/install/jaeger.sh builds the
// binary into the tools directory that scripts/tools-dir.sh prints.
package jaeger
