package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/term"

	"github.com/berth-registry/berth/server/httperr"
)

// commands are the subcommands runCommand knows; anything else starts the server. Each is
// listed in config's usage (berth --help), which TestCLIHelpListsEveryCommand checks.
var commands = map[string]func(ctx context.Context, c *cli, args []string) error{
	"cp":      cmdCopy, // cli_images.go
	"push":    cmdPush,
	"rm":      cmdRemove,
	"cleanup": cmdCleanup, // cli_cleanup.go
	"gc":      cmdGC,
	"export":  cmdExport, // export.go
	"scan":    cmdScan,   // scan_cli.go
	"vulndb":  cmdVulnDB, // scan_cli.go
	// Access control (access_cli.go).
	"user":            cmdUser,
	"token":           cmdToken,
	"team":            cmdTeam,
	"keys":            cmdKeys,
	"registry-config": cmdRegistryConfig,
	"registry":        cmdRegistry, "replicate": cmdReplicate, // registry_cli.go
	"replication": cmdReplication, // replication_cli.go
	"namespace":   cmdNamespace,   // namespace_cli.go
}

// errUsage means the command line was wrong and the flag set has said how already.
var errUsage = errors.New("usage")

// usageError is a wrong command line, said in a sentence; the command's --help says more.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// cli is what a command talks through: its streams, and what it has told the user.
type cli struct {
	in       io.Reader
	out, err io.Writer
	// names rewrites what messages say about a registry served only for the command (the
	// embedded storage on a loopback port, whose address means nothing to the user).
	names *strings.Replacer
	// shown are the messages printed while the command ran; its error does not repeat them.
	shown map[string]bool
}

// say is msg as the user should read it.
func (c *cli) say(msg string) string {
	if c.names != nil {
		return c.names.Replace(msg)
	}
	return msg
}

// interactive reports whether the command can ask the user: stdin and stderr are terminals.
func (c *cli) interactive() bool { return isTerminal(c.in) && isTerminal(c.err) }

func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// runCommand runs a subcommand when args name one; ok is false otherwise.
func runCommand(args []string, stdout, stderr io.Writer) (code int, ok bool) {
	return runCommandIO(args, os.Stdin, stdout, stderr)
}

func runCommandIO(args []string, stdin io.Reader, stdout, stderr io.Writer) (code int, ok bool) {
	if len(args) == 0 {
		return 0, false
	}
	cmd, ok := commands[args[0]]
	if !ok {
		return 0, false
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c := &cli{in: stdin, out: stdout, err: stderr, shown: map[string]bool{}}
	err := cmd(ctx, c, args[1:])
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0, true
	case errors.Is(err, errUsage):
		return 2, true
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "berth %s: %s\nRun 'berth %s --help' for usage.\n", args[0], ue.msg, args[0])
		return 2, true
	}
	c.fail(args[0], err)
	return 1, true
}

// fail prints err's messages that the command has not shown already.
func (c *cli) fail(name string, err error) {
	var lines []string
	for _, m := range messages(err) {
		if m = c.say(m); !c.shown[m] {
			lines = append(lines, m)
		}
	}
	if len(lines) > 0 {
		fmt.Fprintf(c.err, "berth %s: %s\n", name, strings.Join(lines, "\n  "))
	}
}

// messages are err's sentences for a person: each joined error's, an API error's message
// without its cause (which may name the registry's storage paths or carry Go's wrapping).
func messages(err error) []string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, messages(e)...)
		}
		return out
	}
	var he *httperr.Error
	if errors.As(err, &he) {
		return []string{he.Message}
	}
	if errors.Is(err, context.Canceled) {
		return []string{"interrupted"}
	}
	return []string{err.Error()}
}

// newFlags returns a command's flag set; its usage shows synopsis, about and the flags.
func newFlags(c *cli, name, synopsis, about string) *flag.FlagSet {
	fs := flag.NewFlagSet("berth "+name, flag.ContinueOnError)
	fs.SetOutput(c.err)
	fs.Usage = func() {
		fmt.Fprintf(c.err, "usage: berth %s %s\n", name, synopsis)
		if about != "" {
			fmt.Fprintf(c.err, "\n%s\n", about)
		}
		fmt.Fprintf(c.err, "\nflags (before or after the arguments; -- ends them):\n")
		fs.VisitAll(func(f *flag.Flag) {
			kind, usage := flag.UnquoteUsage(f)
			fmt.Fprintf(c.err, "  --%s %s\n      %s", f.Name, kind, usage)
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
				fmt.Fprintf(c.err, " (default %s)", f.DefValue)
			}
			fmt.Fprintln(c.err)
		})
	}
	return fs
}

// parse parses flags wherever they stand among the arguments, as docker and git do
// (berth rm team/app:v1 --registry URL); "--" ends the flags. It returns the arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsage // the flag set has printed what is wrong, and the usage
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if at := len(args) - len(rest); at > 0 && args[at-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// parseN parses args and wants between min and max arguments (max < 0: any number).
func parseN(fs *flag.FlagSet, args []string, min, max int, what string) ([]string, error) {
	pos, err := parse(fs, args)
	if err != nil {
		return nil, err
	}
	got := "none"
	if len(pos) > 0 {
		got = strings.Join(pos, " ")
	}
	switch {
	case len(pos) < min && min == max:
		return nil, usagef("want %s, got %s", what, got)
	case len(pos) < min:
		return nil, usagef("want at least %s, got %s", what, got)
	case max >= 0 && len(pos) > max:
		return nil, usagef("too many arguments (%s): want %s", strings.Join(pos[max:], " "), what)
	}
	return pos, nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
