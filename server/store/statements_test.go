package store

import (
	"slices"
	"strings"
	"testing"
)

// TestStatementsKeepBodiesWhole: a migration script splits at its semicolons, except inside a
// SQLite trigger's BEGIN … END and a PostgreSQL function's $$ … $$; a PostgreSQL trigger (no
// body) ends at its own semicolon and nothing after it is lost.
func TestStatementsKeepBodiesWhole(t *testing.T) {
	script := `CREATE TABLE a (x TEXT);
	CREATE TRIGGER a_added AFTER INSERT ON a BEGIN
		INSERT INTO b (x) VALUES (new.x);
		INSERT INTO c (x) VALUES (new.x);
	END;
	CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
		INSERT INTO b (x) SELECT x FROM added;
		RETURN NULL;
	END $$;
	CREATE TRIGGER g AFTER INSERT ON a REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION f();
	CREATE INDEX a_x ON a (x)`
	got := statements(script)
	var heads []string
	for _, s := range got {
		heads = append(heads, strings.Join(strings.Fields(s)[:3], " "))
	}
	want := []string{"CREATE TABLE a", "CREATE TRIGGER a_added", "CREATE FUNCTION f()", "CREATE TRIGGER g", "CREATE INDEX a_x"}
	if !slices.Equal(heads, want) {
		t.Fatalf("statements: %q, want %q", heads, want)
	}
	if !strings.HasSuffix(got[1], "END") || !strings.HasSuffix(got[2], "END $$") {
		t.Errorf("bodies cut: %q / %q", got[1], got[2])
	}
}
