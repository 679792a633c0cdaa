package eureka

// FetchCounts returns how many full and delta fetches r made.
func FetchCounts(r *Registry) (full, delta int64) {
	return r.disc.fulls.Load(), r.disc.deltas.Load()
}
