package phone

import "errors"

// Errors a Source wraps so that the phone can tell a tester what went
// wrong: errors.Is(err, ErrUnknownItem) and so on.
var (
	// ErrUnknownItem means the item does not exist (or no longer does).
	ErrUnknownItem = errors.New("phone: unknown item")
	// ErrNotAllowed means the action is not possible in the item's
	// current state (confirming a cancelled login, reading a card twice).
	ErrNotAllowed = errors.New("phone: action not allowed now")
	// ErrExpired means the item's QR code or session has expired.
	ErrExpired = errors.New("phone: item expired")
)
