package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-registry/berth/server/auth"
	"github.com/berth-registry/berth/server/store"
)

// accessFlags are the flags every access command takes.
type accessFlags struct {
	database, dataDir, secretFile string
}

func (f *accessFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.dataDir, "data-dir", envOr("BERTH_DATA_DIR", "data"), "Berth's data directory (the store is <data-dir>/berth.db without --database)")
	fs.StringVar(&f.database, "database", os.Getenv("BERTH_DATABASE"), "the store: postgres://… or a SQLite path, as the server's --database")
	fs.StringVar(&f.secretFile, "secret-file", os.Getenv("BERTH_SECRET_FILE"), "the cluster secret sealing signing keys (default <data-dir>/secret)")
}

// sqlitePath is the SQLite file the flags name, "" for PostgreSQL.
func (f *accessFlags) sqlitePath() string {
	switch dsn := f.database; {
	case dsn == "":
		return filepath.Join(f.dataDir, "berth.db")
	case strings.HasPrefix(dsn, "sqlite:"):
		return strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//")
	case strings.Contains(dsn, "://"):
		return ""
	default:
		return dsn
	}
}

// open opens the store's accounts. Only create may make a new SQLite store; done(err)
// closes it, and removes a store it made when err says the command failed, so a failing
// command leaves no data directory behind.
func (f *accessFlags) open(ctx context.Context, create bool) (*auth.Accounts, store.Accounts, func(error), error) {
	dsn, path := f.database, f.sqlitePath()
	if dsn == "" {
		dsn = "sqlite:" + path
	}
	var made []string // what opening the store creates, innermost first
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			if !create {
				return nil, nil, nil, fmt.Errorf("there is no Berth store at %s: give --data-dir (or --database) as Berth runs with it", path)
			}
			made = append(made, path, path+"-wal", path+"-shm", path+"-journal")
			for d := filepath.Dir(path); d != "." && d != "/"; d = filepath.Dir(d) {
				if _, err := os.Stat(d); err == nil {
					break
				}
				made = append(made, d)
			}
		}
	}
	undo := func() {
		for _, p := range made {
			_ = os.Remove(p)
		}
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		undo()
		return nil, nil, nil, fmt.Errorf("cannot open the store: %w", err)
	}
	accounts, err := store.AccountsOf(st)
	if err != nil {
		st.Close()
		undo()
		return nil, nil, nil, err
	}
	done := func(failed error) {
		_ = st.Close()
		if failed != nil {
			undo()
		}
	}
	return auth.NewAccounts(accounts, auth.NewPolicy(accounts, 0), auth.RefreshTTL, nil), accounts, done, nil
}

func (f *accessFlags) keyring(ctx context.Context, st store.Accounts) (*auth.Keyring, error) {
	path := f.secretFile
	if path == "" {
		path = filepath.Join(f.dataDir, "secret") // the cluster secret berth generates
	}
	secret, err := auth.LoadSecret(path, f.secretFile == "")
	if err != nil {
		return nil, err
	}
	return auth.OpenKeyring(ctx, st, secret, 24*time.Hour)
}

// cliActor names changes made from the command line in the audit log.
func cliActor() string {
	if u := os.Getenv("USER"); u != "" {
		return "cli:" + u
	}
	return "cli"
}
