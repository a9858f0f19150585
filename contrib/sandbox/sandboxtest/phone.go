package sandboxtest

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/phone"
	"github.com/shiming-id/shiming/contrib/sandbox/sandboxclient"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
	"github.com/shiming-id/shiming/plugins/sdk/providertest"
)

// qrLifetime is how long the sandbox's QR sessions live (every vendor's
// is five minutes) and the plugins' own; Expire moves the clock past it.
const qrLifetime = 5 * time.Minute

// Phone is the kit's providertest.Phone over the sandbox's virtual phone:
// it drives the phone's JSON API over HTTP with the embedded client, as a
// test of a real vendor drives the vendor's test double, never through
// the plugin. It acts as People.Match, and passes a face check as the
// person it was begun for. The same Phone serves every vendor of the
// sandbox.
type Phone struct {
	*sandboxclient.Client
	srv    *Server
	people providertest.People
}

// Phone returns the phone of people.
func (s *Server) Phone(people providertest.People) *Phone {
	return &Phone{Client: &sandboxclient.Client{URL: s.URL, HTTP: s.HTTP}, srv: s, people: people}
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
	res, err := p.Act(ctx, qr, string(action), p.people.Match.IDNumber)
	if err != nil {
		return nil, err
	}
	return redirectQuery(res.Outcome.Redirect)
}

// Cancel refuses the login and returns the redirect's query like Approve.
func (p *Phone) Cancel(ctx context.Context, qr string) (map[string]string, error) {
	res, err := p.Act(ctx, qr, string(phone.Cancel), p.people.Match.IDNumber)
	if err != nil {
		return nil, err
	}
	return redirectQuery(res.Outcome.Redirect)
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

// SMSText returns the text of the newest message sent to number.
func (p *Phone) SMSText(ctx context.Context, number string) (string, error) {
	msgs, err := p.Inbox(ctx, number)
	if err != nil {
		return "", err
	}
	if len(msgs) == 0 {
		return "", fmt.Errorf("sandboxtest: no message in the inbox of %s", cnid.MaskPhone(number))
	}
	return msgs[0].Text, nil
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

var (
	_ providertest.Phone     = (*Phone)(nil)
	_ providertest.SMSReader = (*Phone)(nil)
)
