// Package dubbo is the old home of the Dubbo URL model, which moved to package
// github.com/tianshu-go/tianshu/dubbo with the rest of the Dubbo model (application-level
// instances, metadata and revisions, the interface-to-application mapping).
//
// Deprecated: import github.com/tianshu-go/tianshu/dubbo. The names here are aliases of
// its names, kept for one release.
package dubbo
