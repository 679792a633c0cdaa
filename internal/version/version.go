// Package version holds Tianshu's own version, for the places that announce it to other
// software: the release parameter of the Dubbo URLs Tianshu writes, for one. It imports
// nothing, so that any package of the module can use it without an import cycle.
package version

// Version is the release of Tianshu this source tree is, or will become when it still ends
// in -dev. The release commit sets it; it is a constant rather than read from the build
// information because a program that replaces the module with a local copy, and Tianshu's
// own tests, have no module version to read.
const Version = "0.1.0-dev"
