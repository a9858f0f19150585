package sandboxtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/phone"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
	"github.com/shiming-id/shiming/plugins/sdk/providertest"
)

// qrLifetime is how long the sandbox's QR sessions live (every vendor's
// is five minutes) and the plugins' own; Expire moves the clock past it.
const qrLifetime = 5 * time.Minute

// Phone is the kit's providertest.Phone over the sandbox's virtual phone:
// it drives the phone's JSON API over HTTP (POST /phone/api/act, GET
// /phone/api/pending, GET /phone/api/sms) as a test of a real vendor
// drives the vendor's test double, never through the plugin. It acts as
// People.Match, and passes a face check as the person it was begun for.
// The same Phone serves every vendor of the sandbox.
type Phone struct {
	srv    *Server
	people providertest.People
}

// Phone returns the phone of people.
func (s *Server) Phone(people providertest.People) *Phone {
	return &Phone{srv: s, people: people}
}

// Item is something waiting on the phone for a person.
type Item struct {
	ID        string   `json:"id"`
	Vendor    string   `json:"vendor"`
	Kind      string   `json:"kind"`
	Title     string   `json:"title"`
	State     string   `json:"state"`
	QRContent string   `json:"qr_content"`
	Actions   []string `json:"actions"`
}

// Outcome is what an action led to.
type Outcome struct {
	// Redirect is the URL the phone's browser opens next (an OAuth
	// callback), empty if none.
	Redirect string `json:"redirect"`
	Message  string `json:"message"`
}

// Open opens QR content on the phone, as pointing its camera at the code
// does: some vendors (Alipay) only then list the item.
func (p *Phone) Open(ctx context.Context, qr string) error {
	return p.do(ctx, http.MethodGet, "/phone/?qr="+url.QueryEscape(qr), nil, nil)
}

// Pending lists what waits on the phone.
func (p *Phone) Pending(ctx context.Context) ([]Item, error) {
	var out struct {
		Items []Item `json:"items"`
	}
	err := p.do(ctx, http.MethodGet, "/phone/api/pending", nil, &out)
	return out.Items, err
}

// Item opens qr on the phone and returns the item it shows.
func (p *Phone) Item(ctx context.Context, qr string) (Item, error) {
	if err := p.Open(ctx, qr); err != nil {
		return Item{}, err
	}
	items, err := p.Pending(ctx)
	if err != nil {
		return Item{}, err
	}
	for _, it := range items {
		if it.QRContent == qr {
			return it, nil
		}
	}
	return Item{}, fmt.Errorf("sandboxtest: %q is not pending on the phone", qr)
}

// Act performs action (scan, confirm, cancel, pass, fail, read) on the
// item of qr as the citizen with idNumber (or citizen key).
func (p *Phone) Act(ctx context.Context, qr, action, idNumber string) (Outcome, error) {
	var out struct {
		Outcome Outcome `json:"outcome"`
	}
	err := p.do(ctx, http.MethodPost, "/phone/api/act", map[string]string{"qr": qr, "action": action, "citizen": idNumber}, &out)
	return out.Outcome, err
}

// Inbox returns the text messages of a phone number, newest first.
func (p *Phone) Inbox(ctx context.Context, number string) ([]phone.Message, error) {
	var out struct {
		Messages []phone.Message `json:"messages"`
	}
	err := p.do(ctx, http.MethodGet, "/phone/api/sms?phone="+url.QueryEscape(number), nil, &out)
	return out.Messages, err
}

// Scan opens the QR content and scans it when the vendor's app asks for
// a scan before the confirmation (a CTID card read shows up on opening).
func (p *Phone) Scan(ctx context.Context, qr string) error {
	it, err := p.Item(ctx, qr)
	if err != nil || !slices.Contains(it.Actions, string(phone.Scan)) {
		return err
	}
	_, err = p.Act(ctx, qr, string(phone.Scan), p.people.Match.IDNumber)
	return err
}

// Approve confirms the login, or reads the ID card where that is the
// approval (CTID), and returns the query of the redirect to the callback,
// nil for vendors that report the confirmation through polling.
func (p *Phone) Approve(ctx context.Context, qr string) (map[string]string, error) {
	it, err := p.Item(ctx, qr)
	if err != nil {
		return nil, err
	}
	action := phone.Confirm
	if !slices.Contains(it.Actions, string(phone.Confirm)) && slices.Contains(it.Actions, string(phone.Read)) {
		action = phone.Read
	}
	out, err := p.Act(ctx, qr, string(action), p.people.Match.IDNumber)
	if err != nil {
		return nil, err
	}
	return redirectQuery(out.Redirect)
}

// Cancel refuses the login and returns the redirect's query like Approve.
func (p *Phone) Cancel(ctx context.Context, qr string) (map[string]string, error) {
	out, err := p.Act(ctx, qr, string(phone.Cancel), p.people.Match.IDNumber)
	if err != nil {
		return nil, err
	}
	return redirectQuery(out.Redirect)
}

// Expire moves the clock past the QR session's five minutes.
func (p *Phone) Expire(context.Context, string) error {
	p.srv.Clock.Advance(qrLifetime + time.Minute)
	return nil
}

// Face passes the face check as the person it was begun for, whom the
// phone shows in the item's title: 张伟（110***********002X）, or only
// a masked name, 张*（…）, on Alipay's.
func (p *Phone) Face(ctx context.Context, qr string) error {
	it, err := p.Item(ctx, qr)
	if err != nil {
		return err
	}
	for _, person := range []providertest.Person{p.people.Match, p.people.FaceFail, p.people.Mismatch} {
		if strings.Contains(it.Title, person.Name+"（"+cnid.MaskID(person.IDNumber)+"）") ||
			strings.Contains(it.Title, "："+maskName(person.Name)+"（") {
			_, err := p.Act(ctx, qr, string(phone.Pass), person.IDNumber)
			return err
		}
	}
	return fmt.Errorf("sandboxtest: face item %q is for nobody the test knows", it.Title)
}

// SMSCode returns the code of the newest message sent to number.
func (p *Phone) SMSCode(ctx context.Context, number string) (string, error) {
	msgs, err := p.Inbox(ctx, number)
	if err != nil {
		return "", err
	}
	if len(msgs) == 0 || msgs[0].Code == "" {
		return "", fmt.Errorf("sandboxtest: no code in the inbox of %s", cnid.MaskPhone(number))
	}
	return msgs[0].Code, nil
}

// maskName keeps a name's first character, as Alipay's pages show it.
func maskName(name string) string {
	r := []rune(name)
	if len(r) == 0 {
		return ""
	}
	return string(r[0]) + strings.Repeat("*", len(r)-1)
}

// redirectQuery returns the query of a redirect, first value per key; nil
// without a redirect.
func redirectQuery(redirect string) (map[string]string, error) {
	if redirect == "" {
		return nil, nil
	}
	u, err := url.Parse(redirect)
	if err != nil {
		return nil, fmt.Errorf("sandboxtest: the phone's redirect: %w", err)
	}
	q := map[string]string{}
	for k, vs := range u.Query() {
		q[k] = vs[0]
	}
	return q, nil
}

// do sends a request to the sandbox and decodes its JSON answer into out.
func (p *Phone) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.srv.URL+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := p.srv.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("sandboxtest: %s %s: %s: %s", method, req.URL.Path, resp.Status, b)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("sandboxtest: %s %s: %w", method, req.URL.Path, err)
	}
	return nil
}

var _ providertest.Phone = (*Phone)(nil)
