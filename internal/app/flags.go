package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/ordersys/ordersys/internal/sqlstore"
)

// flagSet is a flag.FlagSet whose every flag can also be set by an ORDERSYS_* environment
// variable; a flag on the command line wins over the variable, which wins over the default.
type flagSet struct {
	*flag.FlagSet
	getenv     func(string) string
	errs       []error
	positional []string
	// synopsis follows the command's name in its usage line: its flags and arguments.
	synopsis string
}

// Args are the positional arguments, wherever they stood among the flags.
func (f *flagSet) Args() []string { return f.positional }

func newFlagSet(name string, getenv func(string) string, stderr io.Writer) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := &flagSet{FlagSet: fs, getenv: getenv, synopsis: "[flags]"}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: ordersys %s %s\n\nFlags:\n", name, f.synopsis)
		fs.PrintDefaults()
	}
	return f
}

// usageError is a command line that is wrong, with what is wrong; Run prints it.
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

func envName(flagName string) string {
	return "ORDERSYS_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (f *flagSet) String(p *string, name, def, usage string) {
	if v := f.getenv(envName(name)); v != "" {
		def = v
	}
	f.StringVar(p, name, def, fmt.Sprintf("%s (env %s)", usage, envName(name)))
}

func (f *flagSet) Int(p *int, name string, def int, usage string) {
	if v := f.getenv(envName(name)); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s=%q: not a whole number", envName(name), v))
		}
		def = n
	}
	f.IntVar(p, name, def, fmt.Sprintf("%s (env %s)", usage, envName(name)))
}

func (f *flagSet) Float(p *float64, name string, def float64, usage string) {
	if v := f.getenv(envName(name)); v != "" {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s=%q: not a number", envName(name), v))
		}
		def = n
	}
	f.Float64Var(p, name, def, fmt.Sprintf("%s (env %s)", usage, envName(name)))
}

func (f *flagSet) Duration(p *time.Duration, name string, def time.Duration, usage string) {
	if v := f.getenv(envName(name)); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s=%q: %w", envName(name), v, err))
		}
		def = d
	}
	f.DurationVar(p, name, def, fmt.Sprintf("%s (env %s)", usage, envName(name)))
}

func (f *flagSet) Bool(p *bool, name string, def bool, usage string) {
	if v := f.getenv(envName(name)); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s=%q: want true or false", envName(name), v))
		}
		def = b
	}
	f.BoolVar(p, name, def, fmt.Sprintf("%s (env %s)", usage, envName(name)))
}

// Size declares a flag holding a number of bytes, written as 67108864, 64MiB, 512KiB or 1GiB.
func (f *flagSet) Size(p *int64, name string, def int64, usage string) {
	*p = def
	if v := f.getenv(envName(name)); v != "" {
		if err := (*sizeValue)(p).Set(v); err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s=%q: %w", envName(name), v, err))
		}
	}
	f.Var((*sizeValue)(p), name, fmt.Sprintf("%s (env %s)", usage, envName(name)))
}

type sizeValue int64

var sizeUnits = []struct {
	suffix string
	n      int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}, {"", 1}}

func (s *sizeValue) Set(v string) error {
	for _, u := range sizeUnits {
		num, ok := strings.CutSuffix(v, u.suffix)
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
		if err != nil || n < 0 || n > math.MaxInt64/u.n {
			return errors.New("want a size such as 64MiB, 512KiB, 1GiB or a number of bytes")
		}
		*s = sizeValue(n * u.n)
		return nil
	}
	return nil // unreachable: the last unit matches every string
}

func (s *sizeValue) String() string {
	for _, u := range sizeUnits[:3] {
		if *s != 0 && int64(*s)%u.n == 0 {
			return strconv.FormatInt(int64(*s)/u.n, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(*s), 10)
}

// isSet reports whether the command line set the flag name.
func (f *flagSet) isSet(name string) bool {
	set := false
	f.Visit(func(fl *flag.Flag) { set = set || fl.Name == name })
	return set
}

// parse parses args and reports bad environment values too. Positional arguments are an error
// unless the command takes them.
func (f *flagSet) parse(args []string, positional bool) error {
	if len(f.errs) > 0 {
		return usageError{f.errs[0]}
	}
	// Flags may come before or after positional arguments: `serve order --addr :3002`.
	var rest []string
	for {
		if err := f.Parse(args); errors.Is(err, flag.ErrHelp) {
			return err
		} else if err != nil {
			return ErrUsage // the flag package has printed what is wrong, and the usage
		}
		args = f.FlagSet.Args()
		if len(args) == 0 || !positional {
			break
		}
		rest = append(rest, args[0])
		args = args[1:]
	}
	if positional {
		f.positional = rest
		return nil
	}
	if f.NArg() > 0 {
		return usageError{fmt.Errorf("%s: unexpected arguments %q", f.Name(), f.Args())}
	}
	return nil
}

// databaseURL declares --database-url. Its default, which ORDERSYS_DATABASE_URL may set, is
// shown by --help and by every usage error, so it is shown without its password.
func (f *flagSet) databaseURL(p *string, usage string) {
	f.String(p, "database-url", "", usage)
	fl := f.Lookup("database-url")
	fl.DefValue = sqlstore.Redacted(fl.DefValue)
}

// httpFlags are the limits of a process's HTTP listeners (see HTTPLimits).
func httpFlags(fs *flagSet, l *HTTPLimits) {
	fs.Duration(&l.ReadHeaderTimeout, "http-read-header-timeout", DefaultReadHeaderTimeout, "how long a client has to send a request's headers")
	fs.Duration(&l.ReadTimeout, "http-read-timeout", DefaultReadTimeout, "how long a client has to send a whole request, body included")
	fs.Duration(&l.WriteTimeout, "http-write-timeout", DefaultWriteTimeout, "how long a request may take from the end of its headers to the end of its answer; at least --http-read-timeout")
	fs.Duration(&l.IdleTimeout, "http-idle-timeout", DefaultIdleTimeout, "how long a kept-alive connection may wait for its next request")
	fs.Int(&l.MaxHeaderBytes, "http-max-header-bytes", DefaultMaxHeaderBytes, "largest request line and headers; larger ones are answered 431")
	fs.Int(&l.MaxConns, "http-max-conns", DefaultMaxConns(), "connections the API holds open at once (more wait to be accepted); the default is 3/4 of the open-file limit, at most 10000")
}

// checkHTTPFlags refuses HTTP limits that are zero (each flag states its default) or contradict
// each other.
func checkHTTPFlags(l HTTPLimits) error {
	var errs []error
	positive := func(flag string, v time.Duration) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("--%s %v: want a positive duration", flag, v))
		}
	}
	positive("http-read-header-timeout", l.ReadHeaderTimeout)
	positive("http-read-timeout", l.ReadTimeout)
	positive("http-write-timeout", l.WriteTimeout)
	positive("http-idle-timeout", l.IdleTimeout)
	if l.MaxHeaderBytes < 1 {
		errs = append(errs, fmt.Errorf("--http-max-header-bytes %d: want at least 1", l.MaxHeaderBytes))
	}
	if l.MaxConns < 1 {
		errs = append(errs, fmt.Errorf("--http-max-conns %d: want at least 1", l.MaxConns))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := l.Validate(); err != nil {
		return fmt.Errorf("--http-*: %w", err)
	}
	return nil
}
