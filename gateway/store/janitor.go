package store

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Expirer is the part of a store that forgets expired records.
type Expirer interface {
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)
	DeleteExpiredFlows(ctx context.Context, now time.Time) (int, error)
	DeleteExpiredKV(ctx context.Context, now time.Time) (int, error)
	DeleteExpiredCounters(ctx context.Context, now time.Time) (int, error)
}

// Janitor deletes expired sessions, flows, keys and counters, so that
// expired records, which reads already ignore, do not pile up.
type Janitor struct {
	Store Expirer
	// Interval between sweeps. Default one minute.
	Interval time.Duration
	// Logger receives failed sweeps (error) and what each sweep deleted
	// (debug). Nil discards them.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Swept counts what one sweep deleted.
type Swept struct {
	Sessions, Flows, KV, Counters int
}

// Sweep deletes what has expired now, once. It tries every kind of
// record even when one fails, and returns the errors joined.
func (j *Janitor) Sweep(ctx context.Context) (Swept, error) {
	now := time.Now
	if j.Now != nil {
		now = j.Now
	}
	t := now()
	var (
		swept Swept
		errs  []error
	)
	for _, step := range []struct {
		del func(context.Context, time.Time) (int, error)
		n   *int
	}{
		{j.Store.DeleteExpiredSessions, &swept.Sessions},
		{j.Store.DeleteExpiredFlows, &swept.Flows},
		{j.Store.DeleteExpiredKV, &swept.KV},
		{j.Store.DeleteExpiredCounters, &swept.Counters},
	} {
		n, err := step.del(ctx, t)
		*step.n = n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return swept, errors.Join(errs...)
}

// Run sweeps at once and then every Interval until ctx ends. It returns
// nil when ctx ends; a failed sweep is logged and retried next time.
func (j *Janitor) Run(ctx context.Context) error {
	interval := j.Interval
	if interval <= 0 {
		interval = time.Minute
	}
	log := j.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		swept, err := j.Sweep(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			log.ErrorContext(ctx, "store: janitor sweep failed", "err", err,
				"sessions", swept.Sessions, "flows", swept.Flows, "kv", swept.KV, "counters", swept.Counters)
		case swept != Swept{}:
			log.DebugContext(ctx, "store: janitor swept expired records",
				"sessions", swept.Sessions, "flows", swept.Flows, "kv", swept.KV, "counters", swept.Counters)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
