package config

import (
	"fmt"
	"os"
	"slices"
	"strings"
)

// maxRepositoriesFile bounds the --repositories-file read.
const maxRepositoriesFile = 8 << 20

// KnownRepositories is --repositories and the names in --repositories-file (one per line or
// comma-separated, # starts a comment), sorted and without repeats. The caller checks the
// names against distribution's grammar.
func (c Config) KnownRepositories() ([]string, error) {
	names := slices.Clone(c.Repositories)
	if c.RepositoriesFile != "" {
		b, err := os.ReadFile(c.RepositoriesFile)
		if err != nil {
			return nil, fmt.Errorf("--repositories-file: %w", err)
		}
		if len(b) > maxRepositoriesFile {
			return nil, fmt.Errorf("--repositories-file %s: larger than %d bytes", c.RepositoriesFile, maxRepositoriesFile)
		}
		for line := range strings.Lines(string(b)) {
			line, _, _ = strings.Cut(line, "#")
			for _, n := range strings.Split(line, ",") {
				if n = strings.TrimSpace(n); n != "" {
					names = append(names, n)
				}
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}
