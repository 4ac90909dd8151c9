package config_test

import (
	"slices"
	"testing"
)

// TestReplicationFlags: --extra-registry repeats (its variable is comma-separated, and flags
// replace it), --replication-bandwidth takes sizes.
func TestReplicationFlags(t *testing.T) {
	c := load(t, []string{"--extra-registry", "prod=https://r.example", "--extra-registry", "edge=http://10.0.0.2:5000", "--replication-bandwidth", "10MiB"}, map[string]string{
		"BERTH_EXTRA_REGISTRY": "old=https://old.example",
	})
	if !slices.Equal(c.ExtraRegistries, []string{"prod=https://r.example", "edge=http://10.0.0.2:5000"}) || c.ReplicationBandwidth != 10<<20 {
		t.Errorf("flags: %v %d", c.ExtraRegistries, c.ReplicationBandwidth)
	}
	c = load(t, nil, map[string]string{"BERTH_EXTRA_REGISTRY": "a=https://a.example, b=https://b.example", "BERTH_REPLICATION_BANDWIDTH": "1000"})
	if !slices.Equal(c.ExtraRegistries, []string{"a=https://a.example", "b=https://b.example"}) || c.ReplicationBandwidth != 1000 {
		t.Errorf("environment: %v %d", c.ExtraRegistries, c.ReplicationBandwidth)
	}
}
