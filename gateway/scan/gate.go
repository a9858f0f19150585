package scan

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// pollPrefix prefixes the keys that claim a vendor poll in the KV store.
const pollPrefix = "scanpoll:"

// pollGate decides which status poll of a page asks the vendor: at most
// one per flow and poll interval, whoever asks on whichever replica.
//
// A waiting QR page polls every second or two and most polls find the
// vendor not due. Each replica remembers until when it must not ask for a
// session (held), so those polls touch no store at all; the first poll
// past that time claims the interval with a short-lived key in the shared
// KV store (one small insert, or SET in Redis), so a second replica that
// is also due loses the claim and answers from the flow. The flow itself
// is not written unless the vendor's answer changes something.
type pollGate struct {
	mu   sync.Mutex
	held map[string]time.Time
	// sweepAt is when held is next cleared of the times that passed.
	sweepAt time.Time
}

// claim reports whether the caller should ask the vendor about the
// session of generation gen that what ("scan" or "face") names in flow
// id, at now: true at most once per poll interval across the replicas
// sharing the KV store.
func (m *Machine) claim(ctx context.Context, what, flowID string, gen int, now time.Time) (bool, error) {
	key := what + ":" + flowID + ":" + strconv.Itoa(gen)
	until := now.Add(m.o.PollInterval)
	if !m.gate.hold(key, now, until) {
		return false, nil
	}
	_, won, err := m.o.KV.PutIfAbsent(ctx, pollPrefix+key, []byte{1}, until)
	return won, err
}

// hold reports whether key is free at now on this replica and, if it is,
// holds it until then.
func (g *pollGate) hold(key string, now, until time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t, ok := g.held[key]; ok && now.Before(t) {
		return false
	}
	if g.held == nil {
		g.held = make(map[string]time.Time)
	}
	if !now.Before(g.sweepAt) {
		for k, t := range g.held {
			if !now.Before(t) {
				delete(g.held, k)
			}
		}
		g.sweepAt = until
	}
	g.held[key] = until
	return true
}
