// Package phone is the sandbox's virtual phone: one place, a web page and a
// JSON API, where a person or a test does what a real candidate does on a
// real phone — scan a QR code, confirm or cancel a login, pass or fail face
// verification, read an ID card with the CTID app, read an SMS.
//
// Each simulated vendor contributes the things waiting for a person as a
// Source; the phone lists them all and routes each action to its vendor.
package phone

import (
	"context"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/citizens"
)

// Action is something a person does on the phone.
type Action string

const (
	Scan    Action = "scan"    // point the camera at the QR code
	Confirm Action = "confirm" // approve the login in the app
	Cancel  Action = "cancel"  // refuse it
	Pass    Action = "pass"    // go through face verification (passes unless the citizen's face fails)
	Fail    Action = "fail"    // fail face verification on purpose
	Read    Action = "read"    // hold the ID card to the phone (CTID NFC read)
)

// Item is one thing waiting for a person.
type Item struct {
	ID     string // unique across all sources
	Vendor string // wechat, alipay, ctid
	App    string // the vendor app id the item belongs to
	Kind   string // scan_login, face, ctid_read
	// Title is a short Chinese description shown on the phone page.
	Title     string
	State     string // vendor-specific, e.g. waiting, scanned, confirmed
	QRContent string // what the desktop's QR code encodes
	Created   time.Time
	Expires   time.Time
	Actions   []Action // what can be done next
}

// Outcome is the result of an action.
type Outcome struct {
	// Redirect is a URL the phone's browser opens next, for vendors that
	// finish by redirecting (an OAuth callback with a code). Empty if none.
	Redirect string
	// Message is a short Chinese sentence for the phone page.
	Message string
}

// Source is one vendor's view of the phone.
type Source interface {
	// Vendor names the vendor (wechat, alipay, ctid).
	Vendor() string
	// Pending lists the vendor's items that still wait for a person.
	Pending(ctx context.Context) []Item
	// Lookup finds the item a QR code's content refers to; ok is false
	// when the content is not this vendor's or the item is gone.
	Lookup(ctx context.Context, qrContent string) (Item, bool)
	// Act performs an action on an item as the given person.
	Act(ctx context.Context, itemID string, action Action, holder citizens.Citizen) (Outcome, error)
}
