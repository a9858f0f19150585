package sandboxtest

import (
	"os"
	"strconv"
	"sync"
	"time"
)

// Clock is the one clock of a test: the sandbox's, the in-process
// provider's (pass Now) and, through a file, the plugin process's (see
// Command and Main). It is the real time plus an offset the test moves
// forward with Advance. It is safe for concurrent use.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
	file   string
}

func newClock(file string) *Clock {
	c := &Clock{file: file}
	c.write()
	return c
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
	c.write()
}

// write replaces the clock file atomically, so that a plugin process never
// reads half of it; the caller holds c.mu.
func (c *Clock) write() {
	tmp := c.file + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.FormatInt(int64(c.offset), 10)), 0o600); err == nil {
		_ = os.Rename(tmp, c.file)
	}
}

// readOffset reads the offset a Clock wrote; none is 0.
func readOffset(path string) time.Duration {
	b, _ := os.ReadFile(path)
	n, _ := strconv.ParseInt(string(b), 10, 64)
	return time.Duration(n)
}
