package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Sandbox is the embedded sandbox's test API: the virtual phone's JSON
// endpoints, the SMS inboxes and fault injection.
type Sandbox struct {
	// URL is the sandbox's base.
	URL  string
	HTTP *http.Client
}

// Sandbox returns the server's sandbox API.
func (s *Server) Sandbox() *Sandbox { return &Sandbox{URL: s.SandboxURL, HTTP: s.HTTP} }

// Citizen is a fictional person of the sandbox's population registry.
type Citizen struct {
	Key      string `json:"key"`
	Name     string `json:"name"`
	IDNumber string `json:"id_number"`
	Phone    string `json:"phone"`
	// Face is empty when face checks pass, else mismatch or liveness.
	Face string `json:"face"`
	// RegistryName is the name the registry holds (differs from Name for
	// the name/ID mismatch cases).
	RegistryName string `json:"registry_name"`
	Note         string `json:"note"`
}

// Item is something pending on the virtual phone.
type Item struct {
	ID        string    `json:"id"`
	Vendor    string    `json:"vendor"`
	App       string    `json:"app"`
	Kind      string    `json:"kind"`
	Title     string    `json:"title"`
	State     string    `json:"state"`
	QRContent string    `json:"qr_content"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
	Actions   []string  `json:"actions"`
}

// Outcome is what an action on the phone led to: for an Alipay login
// confirmation, the link the phone's browser opens next.
type Outcome struct {
	Redirect string `json:"redirect"`
	Message  string `json:"message"`
}

// ActResult is the phone's answer to an action.
type ActResult struct {
	Item    Item    `json:"item"`
	Outcome Outcome `json:"outcome"`
}

// SMS is a message in a phone's inbox.
type SMS struct {
	Phone        string    `json:"phone"`
	SignName     string    `json:"sign_name"`
	TemplateCode string    `json:"template_code"`
	Text         string    `json:"text"`
	Code         string    `json:"code"`
	BizID        string    `json:"biz_id"`
	Sent         time.Time `json:"sent"`
}

// Fault is a rule of the sandbox's fault injection.
type Fault struct {
	// Vendor is wechat, alipay, ctid, sms or govidp.
	Vendor string `json:"vendor"`
	// Path limits the rule to request paths (after the host prefix)
	// starting with it.
	Path string `json:"path,omitempty"`
	// Code is a vendor error code, http_500 or garbage.
	Code string `json:"code,omitempty"`
	// LatencyMS delays the answers.
	LatencyMS int `json:"latency_ms,omitempty"`
	// Count is how many matching requests it hits; 0 until cleared.
	Count int `json:"count,omitempty"`
}

// APIError is an error answer of the sandbox.
type APIError struct {
	Status  int
	Code    string `json:"error"`
	Message string `json:"message"`
}

func (e *APIError) Error() string {
	return fmt.Sprintf("sandbox: HTTP %d %s: %s", e.Status, e.Code, e.Message)
}

func (sb *Sandbox) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, sb.URL+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := sb.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("sandbox %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("sandbox %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		e := &APIError{Status: resp.StatusCode}
		if json.Unmarshal(b, e) != nil {
			e.Message = string(b)
		}
		return fmt.Errorf("%s %s: %w", method, path, e)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("sandbox %s %s: %w in %q", method, path, err, b)
	}
	return nil
}

// Citizens lists the registry.
func (sb *Sandbox) Citizens(ctx context.Context) ([]Citizen, error) {
	var out struct {
		Citizens []Citizen `json:"citizens"`
	}
	err := sb.call(ctx, http.MethodGet, "/phone/api/citizens", nil, &out)
	return out.Citizens, err
}

// Citizen returns the citizen with key (c001…).
func (sb *Sandbox) Citizen(ctx context.Context, key string) (Citizen, error) {
	all, err := sb.Citizens(ctx)
	if err != nil {
		return Citizen{}, err
	}
	for _, c := range all {
		if c.Key == key {
			return c, nil
		}
	}
	return Citizen{}, fmt.Errorf("sandbox: no citizen %s", key)
}

// Pending lists what waits on the phone, oldest first.
func (sb *Sandbox) Pending(ctx context.Context) ([]Item, error) {
	var out struct {
		Items []Item `json:"items"`
	}
	err := sb.call(ctx, http.MethodGet, "/phone/api/pending", nil, &out)
	return out.Items, err
}

// Act does action (scan, confirm, cancel, pass, fail, read) on the QR
// content qr as the citizen holding the phone (a key or an ID number).
func (sb *Sandbox) Act(ctx context.Context, qr, action, citizen string) (ActResult, error) {
	var out ActResult
	err := sb.call(ctx, http.MethodPost, "/phone/api/act",
		map[string]string{"qr": qr, "action": action, "citizen": citizen}, &out)
	return out, err
}

// ActItem does action on a pending item.
func (sb *Sandbox) ActItem(ctx context.Context, item, action, citizen string) (ActResult, error) {
	var out ActResult
	err := sb.call(ctx, http.MethodPost, "/phone/api/act",
		map[string]string{"item": item, "action": action, "citizen": citizen}, &out)
	return out, err
}

// Inbox returns the messages a phone received, newest first.
func (sb *Sandbox) Inbox(ctx context.Context, phone string) ([]SMS, error) {
	var out struct {
		Messages []SMS `json:"messages"`
	}
	err := sb.call(ctx, http.MethodGet, "/phone/api/sms?phone="+url.QueryEscape(phone), nil, &out)
	return out.Messages, err
}

// WaitCode waits for a verification code sent to phone at or after
// since, and returns the newest.
func (sb *Sandbox) WaitCode(ctx context.Context, phone string, since time.Time) (string, error) {
	for {
		msgs, err := sb.Inbox(ctx, phone)
		if err != nil {
			return "", err
		}
		for _, m := range msgs {
			if m.Code != "" && !m.Sent.Before(since.Add(-time.Second)) {
				return m.Code, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("no code for %s since %s: %w", phone, since.Format(time.TimeOnly), ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// AddFault injects a fault.
func (sb *Sandbox) AddFault(ctx context.Context, f Fault) error {
	return sb.call(ctx, http.MethodPost, "/sandbox/faults", f, nil)
}

// ClearFaults removes a vendor's rules, or every rule when vendor is "".
func (sb *Sandbox) ClearFaults(ctx context.Context, vendor string) error {
	path := "/sandbox/faults"
	if vendor != "" {
		path += "?vendor=" + url.QueryEscape(vendor)
	}
	return sb.call(ctx, http.MethodDelete, path, nil, nil)
}

// Faults lists the rules still active (a rule with a count disappears
// when used up).
func (sb *Sandbox) Faults(ctx context.Context) ([]Fault, error) {
	var out struct {
		Faults []Fault `json:"faults"`
	}
	err := sb.call(ctx, http.MethodGet, "/sandbox/faults", nil, &out)
	return out.Faults, err
}
