package flowpage

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/shiming-id/shiming/gateway/config"
	"github.com/shiming-id/shiming/gateway/scan"
	"github.com/shiming-id/shiming/gateway/web"
	"github.com/shiming-id/shiming/plugins/sdk"
)

// ScanStatusText is the calm sentence under the QR code.
func ScanStatusText(s scan.Session, checked bool) string {
	if s.Trouble != sdk.KindUnknown {
		return web.KindText(web.AtScan, s.Trouble, s.Provider)
	}
	p := web.ProviderName(s.Provider)
	switch s.Phase {
	case scan.Scanned:
		return "已扫码，请在手机上确认。"
	case scan.Exchanging:
		return "已确认，正在获取信息……"
	case scan.Done:
		return "扫码成功，正在进入下一步……"
	}
	if checked {
		return "还没有收到手机上的确认。请用手机" + p + "扫描二维码，在手机上确认后，再点击“我已扫码”。"
	}
	return "请使用手机" + p + "扫描二维码，并在手机上确认。"
}

// ScanErrorKind is the kind a page's data-error-kind shows.
func ScanErrorKind(s scan.Session) string {
	switch {
	case s.Trouble != sdk.KindUnknown:
		return s.Trouble.String()
	case s.Notice != sdk.KindUnknown:
		return s.Notice.String()
	}
	return ""
}

// QRView builds the QR page data of a scan session. base is the URL of
// the QR page: its image is base+".png", its status base's sibling
// "status".
func QRView(s scan.Session, qrURL, statusURL, demoPhone string, checked bool) web.QR {
	p := web.ProviderName(s.Provider)
	v := web.QR{
		Heading:    "请使用手机" + p + "扫码",
		Caption:    "打开手机" + p + "，扫描上方二维码",
		Content:    s.QR,
		ImageURL:   qrURL + ".png?v=" + strconv.Itoa(s.Generation),
		StatusURL:  statusURL,
		FormURL:    qrURL,
		Phase:      string(s.Phase),
		Version:    s.Generation,
		CheckLabel: "我已扫码",
		Status:     ScanStatusText(s, checked),
		ErrorKind:  ScanErrorKind(s),
		Retry:      s.Phase == scan.Failed,
		RetryLabel: "重新获取二维码",
	}
	if demoPhone != "" && s.QR != "" {
		v.DemoURL = demoPhone + "?qr=" + url.QueryEscape(s.QR)
	}
	return v
}

// ScanNotices are the notices of a QR page: why a fresh code is shown.
func ScanNotices(s scan.Session) []web.Notice {
	var out []web.Notice
	if s.Notice != sdk.KindUnknown {
		out = append(out, web.Notice{Tone: web.ToneInfo, Kind: s.Notice.String(), Text: web.KindText(web.AtScan, s.Notice, s.Provider)})
	}
	if s.Phase == scan.Failed && s.Trouble != sdk.KindUnknown {
		out = append(out, web.Notice{Tone: web.ToneWarn, Kind: s.Trouble.String(), Text: web.KindText(web.AtScan, s.Trouble, s.Provider)})
	}
	return out
}

// Outcomes of a callback, as the phone's browser is told.
const (
	CallbackContinue = "continue"
	CallbackStale    = "stale"
	CallbackExpired  = "expired"
	CallbackRefresh  = "refresh"
)

// CallbackOutcome says what the phone's browser is told after a callback
// moved session before to after.
func CallbackOutcome(before, after scan.Session, state string) string {
	switch {
	case before.State != state:
		return CallbackStale
	case after.Generation != before.Generation:
		return CallbackRefresh
	}
	return CallbackContinue
}

// CallbackPage tells the phone's browser to go back to the computer.
func CallbackPage(w http.ResponseWriter, r *http.Request, pages *web.Renderer, pt config.Portal, outcome string) {
	p := web.Page{Name: "message", Title: "请回到电脑继续", Step: "callback_" + outcome, Portal: pt}
	switch outcome {
	case CallbackStale, CallbackRefresh:
		p.Notices = []web.Notice{{Tone: web.ToneInfo, Text: "电脑上的二维码已更新。请回到电脑，用手机扫描新的二维码。"}}
	case CallbackExpired:
		p.Notices = []web.Notice{{Tone: web.ToneWarn, Text: "本次认证已超时。请回到电脑，从报名入口重新开始。"}}
	default:
		p.Notices = []web.Notice{{Tone: web.ToneOK, Text: web.TextBackToComputer}}
	}
	p.Data = web.Message{Paragraphs: []string{"本页面可以关闭。实名认证和报名请在电脑上继续办理。"}}
	pages.Render(w, r, http.StatusOK, p)
}

// FaceQRView builds the QR page data of a face session; base is the face
// page's URL.
func FaceQRView(fs scan.FaceSession, base, demoPhone string, checked bool) web.QR {
	p := web.ProviderName(fs.Provider)
	v := web.QR{
		Heading:    "请使用手机" + p + "扫码进行人脸识别",
		Caption:    "打开手机" + p + "，扫描上方二维码，按提示完成人脸识别",
		Content:    fs.QR,
		ImageURL:   base + "/qr.png?v=" + strconv.Itoa(fs.Generation),
		StatusURL:  base + "/status",
		FormURL:    base,
		Phase:      string(fs.Phase),
		Version:    fs.Generation,
		CheckLabel: "我已完成",
		Status:     FaceStatusText(fs),
		RetryLabel: "重新开始人脸识别",
	}
	if checked && fs.Phase == scan.FacePending && fs.Trouble == sdk.KindUnknown {
		v.Status = "还没有收到人脸识别结果。请在手机上完成人脸识别后，再点击“我已完成”。"
	}
	switch {
	case fs.Trouble != sdk.KindUnknown:
		v.ErrorKind = fs.Trouble.String()
	case fs.Notice != sdk.KindUnknown:
		v.ErrorKind = fs.Notice.String()
	}
	if demoPhone != "" && fs.QR != "" {
		v.DemoURL = demoPhone + "?qr=" + url.QueryEscape(fs.QR)
	}
	return v
}

// FaceStatusText is the calm sentence under a face QR code.
func FaceStatusText(fs scan.FaceSession) string {
	if fs.Trouble != sdk.KindUnknown {
		return web.KindText(web.AtFace, fs.Trouble, fs.Provider)
	}
	switch fs.Phase {
	case scan.FacePassed:
		return "人脸识别已通过，正在进入下一步……"
	case scan.FaceFailed:
		return web.KindText(web.AtFace, fs.Reason, fs.Provider)
	}
	return "请使用手机" + web.ProviderName(fs.Provider) + "扫描二维码，按提示完成人脸识别。"
}

// FaceNotices are the notices of a face QR page: why a fresh code is shown.
func FaceNotices(fs scan.FaceSession) []web.Notice {
	if fs.Notice == sdk.KindUnknown {
		return nil
	}
	return []web.Notice{{Tone: web.ToneInfo, Kind: fs.Notice.String(), Text: web.KindText(web.AtFace, fs.Notice, fs.Provider)}}
}

// FaceStatus is the status-poll answer for a face session.
func FaceStatus(fs scan.FaceSession) web.QRStatus {
	out := web.QRStatus{Phase: string(fs.Phase), Message: FaceStatusText(fs), QRVersion: fs.Generation}
	switch {
	case fs.Trouble != sdk.KindUnknown:
		out.ErrorKind = fs.Trouble.String()
	case fs.Phase == scan.FaceFailed:
		out.ErrorKind = fs.Reason.String()
	case fs.Notice != sdk.KindUnknown:
		out.ErrorKind = fs.Notice.String()
	}
	return out
}
