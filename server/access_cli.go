package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/berth-registry/berth/server/auth"
)

// The access-control commands work on the store directly, as berth gc works on the storage:
// they need the same --database (or --data-dir) as the server, and may run while it does
// (its policy cache forgets within seconds).
//
//	berth user add [--admin] [--password-file F] NAME     (asked on a terminal, else stdin)
//	berth user list | disable NAME | enable NAME
//	berth token create --user U --name N [--expires 30d] [--read-only]
//	berth token revoke --user U ID
//	berth team create [--owner U] NAME | team delete NAME | team member TEAM USER ROLE|none
//	berth keys rotate
//	berth registry-config --realm URL [--events-url URL] [--bundle-path P]

func cmdUser(ctx context.Context, c *cli, args []string) error {
	fs := newFlags(c, "user", "add [--admin] [--password-file F] NAME | list | disable NAME | enable NAME",
		"berth user add asks for the password on a terminal, or reads a line from stdin (or --password-file).")
	var af accessFlags
	af.register(fs)
	admin := fs.Bool("admin", false, "make the user an administrator (add)")
	pwFile := fs.String("password-file", "", "file with the password (add; default: ask on a terminal, else read a line from stdin)")
	verb, rest := verbOf(args)
	nargs := map[string]int{"add": 1, "list": 0, "disable": 1, "enable": 1}
	n, ok := nargs[verb]
	if !ok {
		return unknownVerb(fs, rest, "user", verb, "add, list, disable or enable")
	}
	pos, err := parseN(fs, rest, n, n, map[int]string{0: "no arguments", 1: "the user's NAME"}[n])
	if err != nil {
		return err
	}
	switch verb {
	case "add":
		return addUser(ctx, c, &af, pos[0], *pwFile, *admin)
	case "list":
		return listUsers(ctx, c, &af)
	}
	acc, _, done, err := af.open(ctx, false)
	if err != nil {
		return err
	}
	defer done(nil)
	off := verb == "disable"
	if err := acc.UpdateUser(ctx, cliActor(), pos[0], auth.UserChange{Disabled: &off}); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "user %s %sd\n", pos[0], verb)
	return nil
}

// verbOf splits a command's verb (berth user add …) from the rest; --help alone is no verb.
func verbOf(args []string) (string, []string) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return "", args
	}
	return args[0], args[1:]
}

// unknownVerb answers a missing or unknown verb; berth user --help shows the usage.
func unknownVerb(fs *flag.FlagSet, args []string, cmd, verb, verbs string) error {
	if verb != "" {
		return usagef("unknown command %q: want %s %s", verb, cmd, verbs)
	}
	if _, err := parse(fs, args); err != nil {
		return err
	}
	return usagef("want %s %s", cmd, verbs)
}

// addUser checks the name and password before it opens (or creates) the store.
func addUser(ctx context.Context, c *cli, af *accessFlags, name, pwFile string, admin bool) error {
	if !auth.ValidName(name) {
		return fmt.Errorf("user name %q: use lowercase letters, digits and . _ - between them (at most 64 characters)", name)
	}
	pw, err := readPassword(c, name, pwFile)
	if err != nil {
		return err
	}
	if len(pw) < auth.MinPasswordLength {
		return fmt.Errorf("a password needs at least %d characters", auth.MinPasswordLength)
	}
	acc, _, done, err := af.open(ctx, true)
	if err != nil {
		return err
	}
	err = acc.CreateUser(ctx, cliActor(), name, pw, admin)
	done(err)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.out, "user %s created (namespace %s/)\n", name, name)
	return nil
}

func listUsers(ctx context.Context, c *cli, af *accessFlags) error {
	_, st, done, err := af.open(ctx, false)
	if err != nil {
		return err
	}
	defer done(nil)
	users, err := st.Users(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tSTATE\tCREATED")
	for _, u := range users {
		role, state := "user", "active"
		if u.Admin {
			role = "admin"
		}
		if u.Disabled {
			state = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Name, role, state, u.Created.UTC().Format(time.DateOnly))
	}
	return tw.Flush()
}

// readPassword reads the new user's password: from file, else asked twice without echo on a
// terminal, else one line of stdin.
func readPassword(c *cli, user, file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("cannot read the password file %s: %w", file, errors.Unwrap(err))
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	if f, ok := c.in.(*os.File); ok && c.interactive() {
		fmt.Fprintf(c.err, "Password for %s: ", user)
		pw, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(c.err)
		if err != nil {
			return "", fmt.Errorf("cannot read the password: %w", err)
		}
		fmt.Fprint(c.err, "Again: ")
		again, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(c.err)
		if err != nil {
			return "", fmt.Errorf("cannot read the password: %w", err)
		}
		if string(pw) != string(again) {
			return "", errors.New("the passwords differ; nothing changed")
		}
		return string(pw), nil
	}
	line, err := bufio.NewReader(c.in).ReadString('\n')
	if err != nil && (!errors.Is(err, io.EOF) || line == "") {
		return "", errors.New("no password on stdin: pipe one line (echo … | berth user add NAME), or use --password-file")
	}
	return strings.TrimRight(line, "\r\n"), nil
}
