package config

import (
	"io"
	"testing"
	"time"
)

func TestEventsSettings(t *testing.T) {
	c, err := Load(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.EventsPath != "/events" || c.EventsRetention != 90*24*time.Hour || c.SyncInterval != 10*time.Minute || c.DatabaseDSN() != "sqlite:data/berth.db" {
		t.Errorf("defaults: %+v (dsn %s)", c, c.DatabaseDSN())
	}
	env := map[string]string{"BERTH_EVENTS_RETENTION": "7d", "BERTH_DATABASE": "postgres://db/berth"}
	c, err = Load([]string{"--sync-interval", "1m"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.EventsRetention != 7*24*time.Hour || c.SyncInterval != time.Minute || c.DatabaseDSN() != "postgres://db/berth" {
		t.Errorf("from env and flags: %+v", c)
	}
	c, err = Load([]string{"--events-retention", "36h"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil || c.EventsRetention != 36*time.Hour {
		t.Errorf("flag over env: %v, %v", c.EventsRetention, err)
	}
	for _, args := range [][]string{{"--events-retention", "x d"}, {"--events-retention", "-1d"}, {"--events-path", "events"}} {
		if _, err := Load(args, func(string) string { return "" }, io.Discard); err == nil {
			t.Errorf("Load(%v) accepted", args)
		}
	}
	if _, err := Load(nil, func(k string) string { return map[string]string{"BERTH_EVENTS_RETENTION": "soon"}[k] }, io.Discard); err == nil {
		t.Error("bad BERTH_EVENTS_RETENTION accepted")
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"90d": 90 * 24 * time.Hour, "0d": 0, "12h": 12 * time.Hour, "30m": 30 * time.Minute} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "d", "1.5d", "-2d", "tomorrow"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) accepted", in)
		}
	}
}
