// Command loadtest simulates the peak day of an exam's registration
// against a running Shiming: whole candidate journeys over HTTP —
// real-name registration with WeChat, Alipay or CTID, sign-in, the
// exam's nine registration steps — with the sandbox playing every
// candidate's phone, a share of them meeting the faults the gateway must
// heal (reused codes, stale QR codes, name/ID mismatches).
//
//	go run ./contrib/loadtest --target http://127.0.0.1:8080 --sandbox http://127.0.0.1:8081 \
//	    --candidates 500 --rate 20 --mix wechat=5,alipay=3,ctid=2 --faults reused=0.02,stale=0.02,mismatch=0.01
//
// Modes: journey (the whole day, default), realname (real-name
// registration only), login (password sign-ins of accounts it registers
// first), poll (candidates waiting at the QR code while the page polls).
// A progress line goes to standard error about once a second; at the end
// it prints a table per step (count, errors, p50/p95/p99 in ms) and, as
// its last line, one JSON object:
//
//	{"journeys":…,"journeys_per_s":…,"p50_ms":…,"p95_ms":…,"p99_ms":…,"errors":…}
//
// Every simulated candidate comes from 127.0.0.1, so the gateway's
// per-IP limits must be raised for a run (see BENCHMARKS.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		var u usageError
		if errors.As(err, &u) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ error }

// options are the command line.
type options struct {
	mode        string
	targets     []string
	sandbox     string
	ops         string
	portal      string
	candidates  int
	rate        float64
	concurrency int
	duration    time.Duration
	mix         weighted
	faults      faultShares
	think       time.Duration
	statusPoll  time.Duration
	timeout     time.Duration
	ceiling     time.Duration
	profile     string
	profileFor  time.Duration
	accounts    int
	pollEvery   time.Duration
	progress    time.Duration
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.mode, "mode", "journey", "`what` to simulate: journey (real-name registration, login, the nine steps), realname, login, poll")
	target := fs.String("target", "http://127.0.0.1:8080", "the gateway's public `URL`; several, comma-separated, are replicas behind one origin (requests go round-robin, the first is the origin)")
	fs.StringVar(&o.sandbox, "sandbox", "http://127.0.0.1:8081", "the sandbox's `URL` (the virtual phone, SMS inbox, fault injection)")
	fs.StringVar(&o.ops, "ops", "", "the gateway's ops `URL` (http://127.0.0.1:9464): memory from /metrics, --profile from /debug/pprof")
	fs.StringVar(&o.portal, "portal", "hunanpea", "the `portal` candidates arrive from")
	fs.IntVar(&o.candidates, "candidates", 100, "`number` of candidates (journey, realname); logins (login); waiting candidates (poll)")
	fs.Float64Var(&o.rate, "rate", 0, "arrivals per `second`; 0 starts the next candidate as soon as one of --concurrency finishes")
	fs.IntVar(&o.concurrency, "concurrency", 64, "most candidates in flight at once (poll: polling workers)")
	fs.DurationVar(&o.duration, "duration", 0, "stop starting candidates after this `long` (0: when --candidates have started); poll: how long to poll (default 30s)")
	mix := fs.String("mix", "wechat=5,alipay=3,ctid=2", "provider `weights` for real-name registration")
	faults := fs.String("faults", "", "`shares` of candidates meeting a fault: reused=0.02,stale=0.02,mismatch=0.01 (these use WeChat)")
	fs.DurationVar(&o.think, "think", 0, "pause before each step, as a person reads the page (0: none)")
	fs.DurationVar(&o.statusPoll, "status-poll", 1500*time.Millisecond, "pause between two QR status polls of one candidate (the page's script: 1.5s)")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "bound of one HTTP request")
	fs.DurationVar(&o.ceiling, "ceiling", 0, "first measure argon2id hashes per second in this process for this `long` with every core busy (the password ceiling) and report the run as a ratio of it")
	fs.StringVar(&o.profile, "profile", "", "write a CPU profile of the gateway during the measured phase to this `file` (needs --ops and the gateway's SHIMING_PPROF=1)")
	fs.DurationVar(&o.profileFor, "profile-for", 20*time.Second, "`length` of --profile (at most 55s)")
	fs.DurationVar(&o.pollEvery, "poll-every", 0, "poll: each waiting candidate polls once per this `period` (the page's script: 1.5s); 0: --concurrency workers poll as fast as they can")
	fs.IntVar(&o.accounts, "accounts", 50, "login: `number` of accounts to register before the sign-ins")
	fs.DurationVar(&o.progress, "progress", time.Second, "progress line `interval` on standard error (0: none)")
	if err := fs.Parse(args); err != nil {
		return o, usageError{err}
	}
	if fs.NArg() > 0 {
		return o, usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	var problems []string
	switch o.mode {
	case "journey", "realname", "login", "poll":
	default:
		problems = append(problems, fmt.Sprintf("--mode %q: want journey, realname, login or poll", o.mode))
	}
	for _, t := range splitList(*target) {
		o.targets = append(o.targets, strings.TrimSuffix(t, "/"))
	}
	if len(o.targets) == 0 {
		problems = append(problems, "--target: no URL")
	}
	var err error
	if o.mix, err = parseMix(*mix); err != nil {
		problems = append(problems, "--"+err.Error())
	}
	if o.faults, err = parseFaults(*faults); err != nil {
		problems = append(problems, "--"+err.Error())
	}
	if o.candidates < 1 || o.concurrency < 1 {
		problems = append(problems, "--candidates and --concurrency must be at least 1")
	}
	if o.rate < 0 {
		problems = append(problems, "--rate must not be negative")
	}
	if o.profile != "" && o.ops == "" {
		problems = append(problems, "--profile needs --ops")
	}
	if o.profileFor <= 0 || o.profileFor > 55*time.Second {
		problems = append(problems, "--profile-for must be between 1s and 55s (the ops listener's write timeout is 60s)")
	}
	if o.mode == "login" && o.accounts < 1 {
		problems = append(problems, "--accounts must be at least 1")
	}
	if len(problems) > 0 {
		return o, usageError{errors.New(strings.Join(problems, "; "))}
	}
	return o, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func keyValue(s string) (string, float64, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return "", 0, fmt.Errorf("%q is not name=number", s)
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		return "", 0, fmt.Errorf("%q is not name=number", s)
	}
	return strings.TrimSpace(k), f, nil
}

// faultShares are the shares of candidates meeting each fault.
type faultShares struct {
	reused, stale, mismatch float64
}

func parseFaults(s string) (faultShares, error) {
	var f faultShares
	for _, part := range splitList(s) {
		k, v, err := keyValue(part)
		if err != nil {
			return f, fmt.Errorf("faults: %w", err)
		}
		if v < 0 || v > 1 {
			return f, fmt.Errorf("faults: share %s=%v is not between 0 and 1", k, v)
		}
		switch k {
		case "reused":
			f.reused = v
		case "stale":
			f.stale = v
		case "mismatch":
			f.mismatch = v
		default:
			return f, fmt.Errorf("faults: unknown fault %q (reused, stale, mismatch)", k)
		}
	}
	if f.reused+f.stale+f.mismatch > 1 {
		return f, errors.New("faults: the shares add up to more than 1")
	}
	return f, nil
}
