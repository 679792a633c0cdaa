//go:build !linux

package nacos

// pushListeners finds nothing outside Linux: there, each naming client the SDK closes leaves
// its UDP push receiver blocked (see push_linux.go).
func pushListeners() map[int]bool { return nil }

func stopPushReceiver(int) bool { return false }
