// Package sandboxclient is the Go client of the sandbox's JSON test API
// (contrib/sandbox/README.md): the virtual phone's endpoints under
// /phone/api/, the SMS inboxes, and fault injection under /sandbox/faults.
//
// Tests, the provider conformance kit and the load tool play the
// candidate's phone through it, as a test of a real vendor drives the
// vendor's test double, never through a plugin.
//
//	sb := &sandboxclient.Client{URL: "http://127.0.0.1:8081", HTTP: &http.Client{Timeout: 30 * time.Second}}
//	res, err := sb.Act(ctx, qr, "confirm", "c001")
package sandboxclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/phone"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

// defaultTimeout bounds a request when Client.HTTP is nil.
const defaultTimeout = 30 * time.Second

// maxBody bounds what is read of an answer.
const maxBody = 1 << 20

// pollInterval is the pause between two inbox reads of WaitCode.
const pollInterval = 200 * time.Millisecond

// codeSlack is how much earlier than WaitCode's since a message may have
// been sent: the sandbox's clock and the caller's are read a moment apart.
const codeSlack = time.Second

// Errors of the lookups that the API does not answer itself.
var (
	// ErrNotFound: Citizen found no citizen with the key, or Item no
	// pending item showing the QR content.
	ErrNotFound = errors.New("sandboxclient: not found")
	// ErrNoCode: LastCode found no message carrying a code.
	ErrNoCode = errors.New("sandboxclient: no code in the inbox")
)

// Client calls a sandbox's JSON test API. The zero value is not usable:
// URL is required.
type Client struct {
	// URL is the sandbox's base URL, e.g. http://127.0.0.1:8081.
	URL string
	// HTTP sends the requests; nil means one of the default transport
	// with a 30-second timeout.
	HTTP *http.Client
}

// Citizen is a fictional person of the sandbox's population registry.
type Citizen struct {
	Key      string `json:"key"`
	Name     string `json:"name"`
	IDNumber string `json:"id_number"`
	Phone    string `json:"phone"`
	// Face is how the person's face checks end: passes, mismatch or
	// liveness.
	Face string `json:"face"`
	// RegistryName is the name the registry holds; it differs from Name
	// for the people whose name/ID checks fail.
	RegistryName string `json:"registry_name"`
	Note         string `json:"note"`
}

// Item is something pending on the virtual phone.
type Item struct {
	ID string `json:"id"`
	// Vendor is wechat, alipay or ctid.
	Vendor string `json:"vendor"`
	// App is the vendor app id the item belongs to.
	App string `json:"app"`
	// Kind is scan_login, face or ctid_read.
	Kind string `json:"kind"`
	// Title is the phone's short Chinese description of the item.
	Title string `json:"title"`
	// State is the vendor's, e.g. waiting, scanned, confirmed.
	State string `json:"state"`
	// QRContent is what the desktop's QR code encodes.
	QRContent string    `json:"qr_content"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
	// Actions are what can be done next: scan, confirm, cancel, pass,
	// fail, read.
	Actions []string `json:"actions"`
}

// Outcome is what an action on the phone led to.
type Outcome struct {
	// Redirect is the URL the phone's browser opens next (an OAuth
	// callback, for an Alipay login confirmation), empty if none.
	Redirect string `json:"redirect"`
	// Message is the phone's short Chinese sentence about it.
	Message string `json:"message"`
}

// ActResult is the phone's answer to an action: the item as it stands
// afterwards and the outcome.
type ActResult struct {
	Item    Item    `json:"item"`
	Outcome Outcome `json:"outcome"`
}

// Holder names the person holding the phone: a registered citizen by key
// or ID number, or a synthetic person by name, ID number and phone.
type Holder = phone.Holder

// ActRequest is one action on the phone: on the item of QR content QR,
// or on the pending item with id Item (exactly one of them), as Holder.
type ActRequest struct {
	QR   string `json:"qr,omitempty"`
	Item string `json:"item,omitempty"`
	// Action is scan, confirm, cancel, pass, fail or read.
	Action string `json:"action"`
	Holder
}

// Message is a text message in a phone's inbox.
type Message = phone.Message

// Fault is a rule of the sandbox's fault injection.
type Fault struct {
	// Vendor is wechat, alipay, ctid, sms or govidp.
	Vendor string `json:"vendor"`
	// Path limits the rule to request paths (after the host prefix)
	// starting with it.
	Path string `json:"path,omitempty"`
	// Code is a vendor error code, http_500 or garbage.
	Code string `json:"code,omitempty"`
	// LatencyMS delays the answers, in milliseconds.
	LatencyMS int `json:"latency_ms,omitempty"`
	// Count is how many matching requests the rule hits; 0 means until
	// cleared.
	Count int `json:"count,omitempty"`
}

// APIError is an error answer of the sandbox: its HTTP status and the
// body's {"error": Code, "message": Message}. An answer that is not such
// a body has no Code and the body as Message.
type APIError struct {
	Status int
	// Code is bad_request, bad_citizen, unknown_item, not_allowed,
	// expired, refused, bad_phone or not_found; empty when the body was
	// not the API's.
	Code    string `json:"error"`
	Message string `json:"message"`
}

func (e *APIError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Code, e.Message)
}

// Citizens lists the population registry.
func (c *Client) Citizens(ctx context.Context) ([]Citizen, error) {
	var out struct {
		Citizens []Citizen `json:"citizens"`
	}
	err := c.call(ctx, http.MethodGet, "/phone/api/citizens", nil, nil, &out)
	return out.Citizens, err
}

// Citizen returns the registry's citizen with key (c001 …); the error
// wraps ErrNotFound when there is none.
func (c *Client) Citizen(ctx context.Context, key string) (Citizen, error) {
	all, err := c.Citizens(ctx)
	if err != nil {
		return Citizen{}, err
	}
	for _, ci := range all {
		if ci.Key == key {
			return ci, nil
		}
	}
	return Citizen{}, fmt.Errorf("%w: citizen %s", ErrNotFound, key)
}

// Pending lists what waits on the phone, oldest first.
func (c *Client) Pending(ctx context.Context) ([]Item, error) {
	var out struct {
		Items []Item `json:"items"`
	}
	err := c.call(ctx, http.MethodGet, "/phone/api/pending", nil, nil, &out)
	return out.Items, err
}

// Open opens QR content on the phone's page, as pointing the camera at
// the code does: some vendors (Alipay) only then list the item.
func (c *Client) Open(ctx context.Context, qr string) error {
	return c.call(ctx, http.MethodGet, "/phone/", url.Values{"qr": {qr}}, nil, nil)
}

// Item opens qr on the phone and returns the pending item it shows; the
// error wraps ErrNotFound when none is pending.
func (c *Client) Item(ctx context.Context, qr string) (Item, error) {
	if err := c.Open(ctx, qr); err != nil {
		return Item{}, err
	}
	items, err := c.Pending(ctx)
	if err != nil {
		return Item{}, err
	}
	for _, it := range items {
		if it.QRContent == qr {
			return it, nil
		}
	}
	return Item{}, fmt.Errorf("%w: %q is not pending on the phone", ErrNotFound, qr)
}

// Act does action (scan, confirm, cancel, pass, fail, read) on the item
// of QR content qr as citizen, a registered citizen's key or ID number.
func (c *Client) Act(ctx context.Context, qr, action, citizen string) (ActResult, error) {
	return c.Perform(ctx, ActRequest{QR: qr, Action: action, Holder: Holder{Citizen: citizen}})
}

// ActItem does action on the pending item with id item as citizen.
func (c *Client) ActItem(ctx context.Context, item, action, citizen string) (ActResult, error) {
	return c.Perform(ctx, ActRequest{Item: item, Action: action, Holder: Holder{Citizen: citizen}})
}

// Perform does the action req describes; unlike Act and ActItem it can
// act as a synthetic person.
func (c *Client) Perform(ctx context.Context, req ActRequest) (ActResult, error) {
	var out ActResult
	err := c.call(ctx, http.MethodPost, "/phone/api/act", nil, req, &out)
	return out, err
}

// Inbox returns the messages sent to phone, newest first.
func (c *Client) Inbox(ctx context.Context, phone string) ([]Message, error) {
	var out struct {
		Messages []Message `json:"messages"`
	}
	err := c.call(ctx, http.MethodGet, "/phone/api/sms", url.Values{"phone": {phone}}, nil, &out)
	return out.Messages, err
}

// LastCode returns the code of the newest message to phone that carries
// one; the error is ErrNoCode when none does.
func (c *Client) LastCode(ctx context.Context, phone string) (string, error) {
	msgs, err := c.Inbox(ctx, phone)
	if err != nil {
		return "", err
	}
	for _, m := range msgs {
		if m.Code != "" {
			return m.Code, nil
		}
	}
	return "", ErrNoCode
}

// WaitCode waits until a code is sent to phone at or after since (up to
// a second before it, for the two clocks), and returns the newest such
// code. It reads the inbox five times a second until ctx ends.
func (c *Client) WaitCode(ctx context.Context, phone string, since time.Time) (string, error) {
	for {
		msgs, err := c.Inbox(ctx, phone)
		if err != nil {
			return "", err
		}
		for _, m := range msgs {
			if m.Code != "" && !m.Sent.Before(since.Add(-codeSlack)) {
				return m.Code, nil
			}
		}
		t := time.NewTimer(pollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return "", fmt.Errorf("sandboxclient: no code for %s since %s: %w",
				cnid.MaskPhone(phone), since.Format(time.TimeOnly), ctx.Err())
		case <-t.C:
		}
	}
}

// AddFault injects a fault.
func (c *Client) AddFault(ctx context.Context, f Fault) error {
	return c.call(ctx, http.MethodPost, "/sandbox/faults", nil, f, nil)
}

// ClearFaults removes a vendor's rules, or every rule when vendor is "".
func (c *Client) ClearFaults(ctx context.Context, vendor string) error {
	var q url.Values
	if vendor != "" {
		q = url.Values{"vendor": {vendor}}
	}
	return c.call(ctx, http.MethodDelete, "/sandbox/faults", q, nil, nil)
}

// Faults lists the rules still active: a rule with a count disappears
// when used up.
func (c *Client) Faults(ctx context.Context) ([]Fault, error) {
	var out struct {
		Faults []Fault `json:"faults"`
	}
	err := c.call(ctx, http.MethodGet, "/sandbox/faults", nil, nil, &out)
	return out.Faults, err
}

// call sends in as JSON (if not nil) to path with query, and decodes a
// 2xx answer into out (if not nil). Errors name the method and the path,
// never the query, which may hold a phone number.
func (c *Client) call(ctx context.Context, method, path string, query url.Values, in, out any) error {
	fail := func(err error) error { return fmt.Errorf("sandboxclient: %s %s: %w", method, path, err) }
	u := strings.TrimSuffix(c.URL, "/") + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fail(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fail(err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: defaultTimeout}
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL and its query
		}
		return fail(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fail(err)
	}
	if resp.StatusCode/100 != 2 {
		e := &APIError{Status: resp.StatusCode}
		if json.Unmarshal(b, e) != nil {
			e.Message = strings.TrimSpace(string(b))
		}
		return fail(e)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fail(err)
	}
	return nil
}
