package catalog

// SummariesComputed reports how many manifest summaries s computed rather than took from its
// summary cache.
func SummariesComputed(s *Service) int64 { return s.sums.computed.Load() }

// Answering marks a tag answer about repository being built on s until the returned func runs.
func Answering(s *Service, repository string) func() { return s.reval.answering(repository, true) }
