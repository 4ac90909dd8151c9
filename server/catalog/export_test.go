package catalog

// SummariesComputed reports how many manifest summaries s computed rather than took from its
// summary cache.
func SummariesComputed(s *Service) int64 { return s.sums.computed.Load() }
