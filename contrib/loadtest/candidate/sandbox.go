package candidate

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
)

// Sandbox is the vendor sandbox's test API: the virtual phone (scan,
// confirm, pass a face check, read the SMS inbox), the registry's people
// and fault injection.
type Sandbox struct {
	// URL is the sandbox's base URL, e.g. http://127.0.0.1:8081.
	URL    string
	Client *http.Client
}

// PhoneError is the phone API's refusal of an action.
type PhoneError struct {
	Status  int
	Code    string // bad_request, bad_citizen, unknown_item, not_allowed, expired
	Message string
}

func (e *PhoneError) Error() string {
	return fmt.Sprintf("sandbox phone: %d %s: %s", e.Status, e.Code, e.Message)
}

func (s *Sandbox) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(s.URL, "/")+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		return fmt.Errorf("sandbox %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("sandbox %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(b, &e)
		return &PhoneError{Status: resp.StatusCode, Code: e.Error, Message: e.Message}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("sandbox %s %s: %w", method, path, err)
	}
	return nil
}

// Act does what a person does on the phone with the QR content qr:
// action is scan, confirm, read (CTID's card read), pass, fail or cancel.
// It returns the link the phone's browser opens next, if any (Alipay
// sends it to the gateway's callback).
func (s *Sandbox) Act(ctx context.Context, qr, action string, p Person) (redirect string, err error) {
	in := map[string]string{"qr": qr, "action": action}
	if p.Citizen != "" {
		in["citizen"] = p.Citizen
	} else {
		in["name"], in["id_number"], in["phone"] = p.Name, p.IDNumber, p.Phone
	}
	var out struct {
		Outcome struct {
			Redirect string `json:"redirect"`
		} `json:"outcome"`
	}
	if err := s.do(ctx, http.MethodPost, "/phone/api/act", in, &out); err != nil {
		return "", err
	}
	return out.Outcome.Redirect, nil
}

// ErrNoSMS is returned by LastCode when the phone received no code.
var ErrNoSMS = errors.New("sandbox phone: no code in the inbox")

// LastCode returns the one-time code of the newest message to phone.
func (s *Sandbox) LastCode(ctx context.Context, phone string) (string, error) {
	var out struct {
		Messages []struct {
			Code string `json:"code"`
		} `json:"messages"`
	}
	if err := s.do(ctx, http.MethodGet, "/phone/api/sms?phone="+url.QueryEscape(phone), nil, &out); err != nil {
		return "", err
	}
	for _, m := range out.Messages {
		if m.Code != "" {
			return m.Code, nil
		}
	}
	return "", ErrNoSMS
}

// Citizens returns the sandbox registry's people. Those whose registry
// name differs from their card fail a name/ID check with their card name.
func (s *Sandbox) Citizens(ctx context.Context) ([]Person, error) {
	var out struct {
		Citizens []struct {
			Key          string `json:"key"`
			Name         string `json:"name"`
			IDNumber     string `json:"id_number"`
			Phone        string `json:"phone"`
			RegistryName string `json:"registry_name"`
		} `json:"citizens"`
	}
	if err := s.do(ctx, http.MethodGet, "/phone/api/citizens", nil, &out); err != nil {
		return nil, err
	}
	people := make([]Person, 0, len(out.Citizens))
	for _, c := range out.Citizens {
		p := Person{Citizen: c.Key, Name: c.Name, IDNumber: c.IDNumber, Phone: c.Phone}
		if c.RegistryName != "" && c.RegistryName != c.Name {
			p.RegistryName = c.RegistryName
		}
		people = append(people, p)
	}
	return people, nil
}

// Fault is a rule of the sandbox's fault injection: the next Count
// requests of Vendor whose path starts with Path get the vendor's error
// Code.
type Fault struct {
	Vendor string `json:"vendor"`
	Path   string `json:"path"`
	Code   string `json:"code"`
	Count  int    `json:"count"`
}

// Faults every candidate can be given.
var (
	// FaultCodeReused: WeChat answers the code exchange with 40163 (code
	// been used), as when a phone or a second tab used it first.
	FaultCodeReused = Fault{Vendor: "wechat", Path: "/sns/oauth2/access_token", Code: "40163", Count: 1}
	// FaultStaleQR: WeChat's long poll says the QR expired (402).
	FaultStaleQR = Fault{Vendor: "wechat", Path: "/connect/l/qrconnect", Code: "402", Count: 1}
)

// Inject adds a fault rule.
func (s *Sandbox) Inject(ctx context.Context, f Fault) error {
	return s.do(ctx, http.MethodPost, "/sandbox/faults", f, nil)
}

// ClearFaults removes every fault rule.
func (s *Sandbox) ClearFaults(ctx context.Context) error {
	return s.do(ctx, http.MethodDelete, "/sandbox/faults", nil, nil)
}
