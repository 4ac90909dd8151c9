package config

// The flag values and helpers Load defines its flags with.

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/app/api"
)

// daysValue is a flag.Value for durations that may be given in days.
type daysValue struct{ d *time.Duration }

func (v daysValue) String() string {
	if v.d == nil {
		return ""
	}
	return api.FormatDuration(*v.d)
}

func (v daysValue) Set(s string) error {
	d, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*v.d = d
	return nil
}

// sizeUnits are the suffixes ParseSize knows, binary and decimal.
var sizeUnits = []struct {
	suffix string
	bytes  int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// ParseSize parses a number of bytes: plain, such as 67108864, or with a unit, such as
// 64MiB, 512KiB or 1GB (units are case-insensitive; KiB, MiB… are powers of 1024, KB, MB…
// of 1000).
func ParseSize(s string) (int64, error) {
	num, unit := s, int64(1)
	for _, u := range sizeUnits {
		if len(s) > len(u.suffix) && strings.EqualFold(s[len(s)-len(u.suffix):], u.suffix) {
			num, unit = strings.TrimSpace(s[:len(s)-len(u.suffix)]), u.bytes
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/unit {
		return 0, fmt.Errorf("size %q: want a number of bytes such as 67108864 or 64MiB", s)
	}
	return n * unit, nil
}

// sizeValue is a flag.Value for byte sizes that may carry a unit.
type sizeValue struct{ n *int64 }

func (v sizeValue) String() string {
	if v.n == nil {
		return ""
	}
	for _, u := range []struct {
		suffix string
		bytes  int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if *v.n > 0 && *v.n%u.bytes == 0 {
			return strconv.FormatInt(*v.n/u.bytes, 10) + u.suffix
		}
	}
	return strconv.FormatInt(*v.n, 10)
}

func (v sizeValue) Set(s string) error {
	n, err := ParseSize(s)
	if err != nil {
		return err
	}
	*v.n = n
	return nil
}

// commaList defines a flag (and variable) holding a comma-separated list.
func commaList(getenv func(string) string, fs *flag.FlagSet, name, usage string) *[]string {
	var out []string
	set := func(v string) {
		out = nil
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	set(getenv(envName(name)))
	fs.Func(name, usage, func(v string) error { set(v); return nil })
	return &out
}

func visited(fs *flag.FlagSet) map[string]bool {
	m := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { m[f.Name] = true })
	return m
}

func envName(flagName string) string {
	return "BERTH_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// listValue is a repeatable flag; values given as flags replace those from the environment.
type listValue struct {
	values  []string
	fromEnv bool
}

func (l *listValue) String() string { return strings.Join(l.values, ",") }

func (l *listValue) Set(v string) error {
	if l.fromEnv {
		l.values, l.fromEnv = nil, false
	}
	if v != "" {
		l.values = append(l.values, strings.TrimRight(v, "/"))
	}
	return nil
}

// repeatable is a flag given once per value, whose variable holds them comma-separated.
func repeatable(getenv func(string) string, fs *flag.FlagSet, name, usage string) *listValue {
	l := &listValue{}
	if v := getenv(envName(name)); v != "" {
		for _, p := range strings.Split(v, ",") {
			_ = l.Set(strings.TrimSpace(p))
		}
		l.fromEnv = true
	}
	fs.Var(l, name, usage)
	return l
}
