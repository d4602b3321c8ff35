package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/home"
)

// Exit codes of the CLI contract.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitNotFound    = 3
	exitQuota       = 4
	exitUnavailable = 5
	exitIntegrity   = 6
)

// kinds is the one table of what an error's kind means here: the exit
// code, the local API's HTTP status, and the advice report prints when
// the error carries none. A kind not listed: exit 1, status 500, no
// advice.
var kinds = map[storage.Kind]struct {
	exit, status int
	hint         string
}{
	storage.Invalid:       {exitUsage, http.StatusBadRequest, ""},
	storage.IsDir:         {exitUsage, http.StatusBadRequest, ""},
	storage.NotDir:        {exitUsage, http.StatusBadRequest, ""},
	storage.NotEmpty:      {exitUsage, http.StatusBadRequest, ""},
	storage.Exist:         {exitFailure, http.StatusBadRequest, ""},
	storage.NotExist:      {exitNotFound, http.StatusNotFound, ""},
	storage.Permission:    {exitFailure, http.StatusForbidden, ""},
	storage.Quota:         {exitQuota, http.StatusInsufficientStorage, "contribute more storage ('cairn daemon --contribute SIZE') or free some space"},
	storage.Unavailable:   {exitUnavailable, http.StatusServiceUnavailable, "check that enough storage peers are running and reachable ('cairn status', 'cairn peers')"},
	storage.CannotDecrypt: {exitIntegrity, http.StatusUnprocessableEntity, "the key is wrong or the data was tampered with"},
	storage.Corrupt:       {exitIntegrity, http.StatusUnprocessableEntity, "stored data failed its integrity check; 'cairn check --repair' may rebuild it"},
}

// exitCode maps an error to the contract's exit code, once.
func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	if k, ok := kinds[storage.KindOf(err)]; ok {
		return k.exit
	}
	return exitFailure
}

// usageError is a mistake in how the command was called.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// hinted attaches advice to an error; report prints it on a "hint:" line.
type hinted struct {
	err  error
	hint string
}

func (h hinted) Error() string { return h.err.Error() }
func (h hinted) Unwrap() error { return h.err }

func withHint(err error, hint string) error {
	if err == nil {
		return nil
	}
	return hinted{err, hint}
}

// report prints err as the contract wants it and returns the exit code.
func report(stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) && ec.ExitCode() == 0 {
		return exitOK
	}
	msg := strings.TrimSpace(err.Error())
	msg = strings.ReplaceAll(msg, "\n", " ")
	fmt.Fprintf(stderr, "cairn: %s\n", msg)
	var h hinted
	hint := ""
	if errors.As(err, &h) {
		hint = h.hint
	} else {
		hint = defaultHint(err)
	}
	if hint != "" {
		fmt.Fprintf(stderr, "hint: %s\n", hint)
	}
	return exitCode(err)
}

func defaultHint(err error) string {
	var ue usageError
	if errors.As(err, &ue) {
		return "see 'cairn --help' or 'cairn COMMAND --help'"
	}
	return kinds[storage.KindOf(err)].hint
}

// Global flags. They may stand before or after the command name.
var (
	homeFlag = &cli.StringFlag{Name: "home", Usage: "node home `DIR` (default $CAIRN_HOME, else ~/.cairn)"}
	jsonFlag = &cli.BoolFlag{Name: "json", Usage: "print one JSON document (or JSON lines) on stdout"}
	passFlag = &cli.StringFlag{Name: "passphrase-file", Usage: "read the keyring passphrase from `FILE`"}
)

var globalFlags = []cli.Flag{homeFlag, jsonFlag, passFlag}

// env is what every command gets: streams, the home, output mode.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

func newApp(e *env) *cli.App {
	app := &cli.App{
		Name:                 "cairn",
		Usage:                "peer-to-peer encrypted storage",
		Description:          "Commands, flags, --json output and exit codes: docs/CLI.md in the source repository.",
		Flags:                globalFlags,
		HideHelpCommand:      true,
		EnableBashCompletion: false,
		Reader:               e.stdin,
		Writer:               e.stdout,
		ErrWriter:            e.stderr,
		ExitErrHandler:       func(*cli.Context, error) {},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return usageError{err.Error()}
		},
		Commands: []*cli.Command{
			cmdInit(e), cmdDaemon(e), cmdID(e), cmdStatus(e), cmdPeers(e),
			cmdPut(e), cmdGet(e), cmdLs(e), cmdMkdir(e), cmdRm(e), cmdMv(e),
			cmdVersions(e), cmdCheck(e), cmdShare(e), cmdUnshare(e), cmdShares(e), cmdAccept(e), cmdDecline(e),
			cmdTestnet(e), cmdDemo(e),
		},
	}
	for _, c := range app.Commands {
		if c.OnUsageError == nil {
			c.OnUsageError = app.OnUsageError
		}
	}
	return app
}

// run is main without os.Exit, for tests.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	app := newApp(e)
	args = reorder(app, args)
	notFound := false
	app.CommandNotFound = func(c *cli.Context, name string) {
		notFound = true
		fmt.Fprintf(stderr, "cairn: no such command %q\nhint: see 'cairn --help'\n", name)
	}
	err := app.Run(args)
	if notFound {
		return exitUsage
	}
	return report(stderr, err)
}

// reorder moves flags that follow positional arguments in front of them
// (`cairn share /x --with U` parses like `cairn share --with U /x`) and
// global flags given after the command name in front of it, since the
// flag package stops at the first positional argument.
func reorder(app *cli.App, args []string) []string {
	isGlobal, globalTakes := flagTable(app.Flags)
	var cmd *cli.Command // nil while before the command name
	var cmdName string
	var cmdTakes map[string]bool
	var globals, flags, pos []string
	for j := 1; j < len(args); j++ {
		a := args[j]
		if cmd != nil && a == "--" {
			pos = append(pos, args[j:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			if cmd == nil {
				if cmd = app.Command(a); cmd == nil {
					return args
				}
				cmdName = a
				_, cmdTakes = flagTable(cmd.Flags)
				continue
			}
			pos = append(pos, a)
			continue
		}
		name := flagName(a)
		takes := cmdTakes[name]
		dst := &flags
		if _, own := cmdTakes[name]; cmd == nil || !own && isGlobal[name] {
			dst = &globals
			takes = globalTakes[name]
		}
		*dst = append(*dst, a)
		if takes && !strings.Contains(a, "=") && j+1 < len(args) {
			*dst = append(*dst, args[j+1])
			j++
		}
	}
	if cmd == nil {
		return args
	}
	out := append([]string{args[0]}, globals...)
	out = append(out, cmdName)
	out = append(out, flags...)
	return append(out, pos...)
}

// flagTable lists flag names and whether each takes a value.
func flagTable(flags []cli.Flag) (known, takesValue map[string]bool) {
	known, takesValue = map[string]bool{}, map[string]bool{}
	for _, f := range flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			known[n] = true
			takesValue[n] = !isBool
		}
	}
	return known, takesValue
}

func flagName(a string) string {
	a = strings.TrimLeft(a, "-")
	if k := strings.IndexByte(a, '='); k >= 0 {
		a = a[:k]
	}
	return a
}

// wantJSON reports whether --json was given anywhere.
func wantJSON(c *cli.Context) bool {
	for _, x := range c.Lineage() {
		if x.Bool("json") {
			return true
		}
	}
	return false
}

// call sends one request to the daemon of the command's home (client.do).
func call(c *cli.Context, method, path string, q url.Values, in, out any) error {
	cl, err := daemonClient(c)
	if err != nil {
		return err
	}
	return cl.do(c.Context, method, path, q, in, out)
}

// daemonClient is a client of the daemon of the command's home.
func daemonClient(c *cli.Context) (*client, error) {
	dir, err := homeDir(c)
	if err != nil {
		return nil, err
	}
	return newClient(dir), nil
}

// homeDir resolves --home, $CAIRN_HOME, ~/.cairn (home.Locate).
func homeDir(c *cli.Context) (string, error) {
	dir, err := home.Locate(globalString(c, "home"))
	if storage.KindOf(err) == storage.Invalid {
		return "", withHint(usagef("cannot find a home for cairn: %v", errors.Unwrap(err)), "give --home DIR or set CAIRN_HOME")
	}
	return dir, err
}

// globalString is the value of a global flag given before or after the
// command name ("" if neither).
func globalString(c *cli.Context, name string) string {
	for _, x := range c.Lineage() {
		if v := x.String(name); v != "" {
			return v
		}
	}
	return ""
}

// fetch calls the daemon (call) and, with --json, prints its answer v as
// it came: it reports whether v is still to be rendered as text.
func fetch(c *cli.Context, e *env, method, path string, q url.Values, in, v any) (text bool, err error) {
	if err := call(c, method, path, q, in, v); err != nil {
		return false, err
	}
	if wantJSON(c) {
		return false, json.NewEncoder(e.stdout).Encode(v)
	}
	return true, nil
}
