package sms

import (
	"context"
	"regexp"
	"slices"

	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

// DefaultPhoneChangedTemplate is the default template of the
// phone_changed notice, a notice template with ${phone}.
const DefaultPhoneChangedTemplate = "SMS_SHIMING_PHONE_CHANGED"

// maskedPhoneRE is a phone number as cnid.MaskPhone masks it.
var maskedPhoneRE = regexp.MustCompile(`^1[0-9]{2}\*{4}[0-9]{4}$`)

// noticeParams are the notice kinds the provider sends, each with the
// params its template takes and the shape each value must have. A notice
// never carries a full phone number other than its destination, so a
// phone param must be masked.
var noticeParams = map[string]map[string]*regexp.Regexp{
	sdk.NoticePhoneChanged: {"phone": maskedPhoneRE},
}

// defaultNoticeTemplates are the templates of the notice kinds when the
// configuration's notice_templates does not name them.
func defaultNoticeTemplates() map[string]string {
	return map[string]string{sdk.NoticePhoneChanged: DefaultPhoneChangedTemplate}
}

// SendNotice sends the notice n to phone with SendSms: the template
// notice_templates names for n.Kind, with n.Params as its variables. An
// unknown kind, params other than the kind's or a phone param that is not
// masked are InvalidRequest, without asking the vendor.
func (p *Provider) SendNotice(ctx context.Context, phone string, n sdk.Notice) error {
	st, err := p.state()
	if err != nil {
		return err
	}
	number, perr := cnid.ParsePhone(phone)
	var bad []string
	if perr != nil {
		bad = append(bad, "phone")
	}
	want, known := noticeParams[n.Kind]
	template := st.cfg.noticeTemplates[n.Kind]
	switch {
	case !known || template == "":
		bad = append(bad, "kind")
	case !validParams(n.Params, want):
		bad = append(bad, "params")
	}
	if len(bad) > 0 {
		return sdk.Fields(sdk.InvalidRequest, "sms: send notice: invalid request", bad...)
	}
	res, err := st.sendSMS(ctx, number, message{what: "send notice", template: template, templateField: "notice_templates", vars: n.Params}, st.now())
	if err != nil {
		st.log.WarnContext(ctx, "sms: notice not sent", "phone", cnid.MaskPhone(number), "notice", n.Kind,
			"kind", sdk.KindOf(err).String(), "vendor_code", sdk.VendorCodeOf(err))
		return err
	}
	st.log.InfoContext(ctx, "sms: notice sent", "phone", cnid.MaskPhone(number), "notice", n.Kind,
		"biz_id", res.BizID, "out_id", res.outID, "request_id", res.RequestID)
	return nil
}

// validParams reports whether params has exactly the names of want, each
// value of the shape want gives it.
func validParams(params map[string]string, want map[string]*regexp.Regexp) bool {
	if len(params) != len(want) {
		return false
	}
	for name, re := range want {
		if v, ok := params[name]; !ok || !re.MatchString(v) {
			return false
		}
	}
	return true
}

// noticeKinds lists the notice kinds, sorted, for messages.
func noticeKinds() []string {
	kinds := make([]string, 0, len(noticeParams))
	for k := range noticeParams {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	return kinds
}
