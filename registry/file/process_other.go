//go:build !unix

package file

// processGone cannot check processes on this system; entries expire by TTL alone.
func processGone(int) bool { return false }

func pidNamespace() string { return "" }
