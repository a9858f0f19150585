package alipay

import (
	"fmt"
	"time"
)

// handleLabel keys the handles the plugin gives out under handle_key; see
// plugins/sdk/handle.
const handleLabel = "shiming alipay handle v1"

// Kinds of handle; a handle of one kind is not accepted as another.
const (
	handleScan = "scan"
	handleFace = "face"
)

// payload is what a handle carries.
type payload struct {
	// ID is Alipay's id (certify_id), empty for scan sessions.
	ID string `json:"i,omitempty"`
	// State is the OAuth state of a scan session.
	State string `json:"s,omitempty"`
	// Exp is when the session expires, in Unix seconds.
	Exp int64 `json:"e"`
}

func (h payload) expires() time.Time { return time.Unix(h.Exp, 0) }

// sealHandle returns the handle of h as kind. Handles are bound to the
// app id, so that a handle is recognised by any replica's plugin
// configured for the same app and by no other.
func (c *configured) sealHandle(kind string, h payload) (string, error) {
	text, err := c.handles.Seal(kind, c.appID, h)
	if err != nil {
		return "", fmt.Errorf("alipay: seal handle: %w", err)
	}
	return text, nil
}

// openHandle returns what the handle text carries, or false for anything
// this app did not seal as kind.
func (c *configured) openHandle(kind, text string) (payload, bool) {
	var h payload
	if !c.handles.Open(kind, c.appID, text, &h) || h.Exp <= 0 {
		return payload{}, false
	}
	return h, true
}
