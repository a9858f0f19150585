// Package password hashes and verifies passwords with argon2id, stored in
// the PHC string format ($argon2id$v=19$m=19456,t=2,p=1$salt$hash) so the
// cost can be raised later without invalidating existing hashes.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Params are the argon2id cost parameters.
type Params struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
}

// DefaultParams follow OWASP's minimum for argon2id: 19 MiB, 2 passes, 1 lane.
var DefaultParams = Params{MemoryKiB: 19 * 1024, Iterations: 2, Parallelism: 1}

const (
	saltLen = 16
	keyLen  = 32
)

var (
	// ErrMismatch is returned when a password does not match its hash.
	ErrMismatch = errors.New("password: mismatch")
	// ErrMalformed is returned for a hash that is not a PHC argon2id string.
	ErrMalformed = errors.New("password: malformed hash")
)

var b64 = base64.RawStdEncoding

// Hash returns the PHC string of password under p.
func Hash(password string, p Params) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Iterations, p.Parallelism, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify checks password against a PHC argon2id hash in constant time.
// It returns ErrMismatch or ErrMalformed.
func Verify(password, hash string) error {
	p, salt, want, err := parse(hash)
	if err != nil {
		return err
	}
	got := argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, uint32(len(want)))
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrMismatch
	}
	return nil
}

// NeedsRehash reports whether hash was made with parameters other than p.
func NeedsRehash(hash string, p Params) bool {
	got, _, _, err := parse(hash)
	return err != nil || got != p
}

func parse(hash string) (Params, []byte, []byte, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Params{}, nil, nil, ErrMalformed
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return Params{}, nil, nil, ErrMalformed
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Iterations, &p.Parallelism); err != nil ||
		p.MemoryKiB == 0 || p.MemoryKiB > 1<<20 || p.Iterations == 0 || p.Iterations > 20 || p.Parallelism == 0 {
		return Params{}, nil, nil, ErrMalformed
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return Params{}, nil, nil, ErrMalformed
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return Params{}, nil, nil, ErrMalformed
	}
	return p, salt, key, nil
}

// Policy problems a person can fix; the web layer translates them.
var (
	ErrTooShort    = errors.New("password: at least 8 characters")
	ErrTooLong     = errors.New("password: at most 64 characters")
	ErrTooSimple   = errors.New("password: use letters and digits")
	ErrContainsID  = errors.New("password: must not contain the ID number or phone")
	ErrControlChar = errors.New("password: control characters are not allowed")
)

// CheckPolicy enforces the candidate password policy: 8 to 64
// characters, letters and digits both present, and none of the given
// personal values (ID number, phone) inside it.
func CheckPolicy(password string, personal ...string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case n < 8:
		return ErrTooShort
	case n > 64:
		return ErrTooLong
	}
	var letter, digit bool
	for _, r := range password {
		switch {
		case unicode.IsControl(r):
			return ErrControlChar
		case unicode.IsLetter(r):
			letter = true
		case unicode.IsDigit(r):
			digit = true
		}
	}
	if !letter || !digit {
		return ErrTooSimple
	}
	lower := strings.ToLower(password)
	for _, v := range personal {
		if len(v) >= 6 && strings.Contains(lower, strings.ToLower(v)) {
			return ErrContainsID
		}
	}
	return nil
}
