package ctid

import (
	"fmt"
	"time"
)

// handleLabel keys the handles the plugin gives out under handle_key; see
// plugins/sdk/handle.
const handleLabel = "shiming ctid handle v1"

// Kinds of handle; a handle of one kind is not accepted as another.
const (
	handleScan = "scan"
	handleFace = "face"
)

// payload is what a handle carries.
type payload struct {
	// BSN is the platform's business serial number.
	BSN string `json:"b"`
	// Exp is when the session expires, in Unix seconds.
	Exp int64 `json:"e"`
}

func (h payload) expires() time.Time { return time.Unix(h.Exp, 0) }

// sealHandle returns the handle of h as kind. Handles are bound to the
// org code, so that a handle is recognised by any replica's plugin
// configured for the same organisation and by no other.
func (c *configured) sealHandle(kind string, h payload) (string, error) {
	text, err := c.handles.Seal(kind, c.orgCode, h)
	if err != nil {
		return "", fmt.Errorf("ctid: seal handle: %w", err)
	}
	return text, nil
}

// openHandle returns what the handle text carries, or false for anything
// this organisation did not seal as kind.
func (c *configured) openHandle(kind, text string) (payload, bool) {
	var h payload
	if !c.handles.Open(kind, c.orgCode, text, &h) || h.Exp <= 0 || h.BSN == "" {
		return payload{}, false
	}
	return h, true
}
