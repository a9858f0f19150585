// Package redistest gives tests a real Redis and a key prefix of their
// own: the server comes from SHIMING_TEST_REDIS_ADDR (see .ci/redis.sh).
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// EnvAddr names the environment variable that holds the test server's
// address, for example 127.0.0.1:56379.
const EnvAddr = "SHIMING_TEST_REDIS_ADDR"

// Addr returns the test server's host:port. When EnvAddr is unset it
// skips the test, or fails it when CI=true: CI must run every test.
func Addr(t testing.TB) string {
	t.Helper()
	addr := os.Getenv(EnvAddr)
	if addr != "" {
		return addr
	}
	const how = "start one with `. .ci/redis.sh` (it exports " + EnvAddr + ")"
	if os.Getenv("CI") == "true" {
		t.Fatalf("redistest: %s is not set and CI=true: Redis tests must run in CI; %s", EnvAddr, how)
	}
	t.Skipf("redistest: %s is not set, skipping Redis tests; %s", EnvAddr, how)
	return ""
}

// URL returns a redis:// URL for the test server, skipping or failing
// like Addr.
func URL(t testing.TB) string {
	t.Helper()
	return "redis://" + Addr(t)
}

// Prefix returns a fresh key prefix ("shimingtest:<random>:") on the test
// server and deletes every key under it when the test ends, so tests can
// run in parallel and leave nothing behind. It skips or fails like Addr.
func Prefix(t testing.TB) string {
	t.Helper()
	addr := Addr(t)
	var b [8]byte
	_, _ = rand.Read(b[:])
	prefix := "shimingtest:" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		// The test's context is already cancelled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := deleteAll(ctx, addr, prefix); err != nil {
			t.Errorf("redistest: delete the keys under %s: %v", prefix, err)
		}
	})
	return prefix
}

// Keys returns the keys under prefix on the test server, for tests that
// check what a store leaves behind.
func Keys(t testing.TB, prefix string) []string {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: Addr(t)})
	defer rdb.Close()
	var keys []string
	iter := rdb.Scan(t.Context(), 0, prefix+"*", 1000).Iterator()
	for iter.Next(t.Context()) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("redistest: scan %s: %v", prefix, err)
	}
	return keys
}

func deleteAll(ctx context.Context, addr, prefix string) error {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 1000 {
			if err := rdb.Unlink(ctx, batch...).Err(); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if len(batch) > 0 {
		return rdb.Unlink(ctx, batch...).Err()
	}
	return nil
}
