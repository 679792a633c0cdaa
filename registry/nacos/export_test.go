package nacos

// SharedClients returns how many SDK naming and config clients the process holds open.
func SharedClients() (naming, config int) {
	pool.Lock()
	defer pool.Unlock()
	return len(pool.naming), len(pool.config)
}
