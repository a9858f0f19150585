package portal

import (
	"net/http"
	"strings"
	"time"

	"github.com/shiming-id/shiming/gateway/config"
	"github.com/shiming-id/shiming/gateway/web"
)

// shanghai is the time zone dates are shown in.
var shanghai = time.FixedZone("CST", 8*3600)

// mobileMarks are user-agent fragments of phones, tablets and the in-app
// browsers of WeChat and Alipay. Android tablets are refused too: the
// guide admits desktop and laptop computers only.
var mobileMarks = []string{
	"iphone", "ipad", "ipod", "android", "mobile", "micromessenger", "alipayclient",
	"harmonyos", "openharmony", "windows phone", "tablet", "kindle", "silk/", "opera mini",
}

// IsMobile reports whether a user agent is a phone or a tablet (iPadOS
// Safari, which calls itself a Mac, is not recognised).
func IsMobile(userAgent string) bool {
	ua := strings.ToLower(userAgent)
	for _, m := range mobileMarks {
		if strings.Contains(ua, m) {
			if (m == "harmonyos" || m == "openharmony") && !strings.Contains(ua, "phone") && !strings.Contains(ua, "tablet") && !strings.Contains(ua, "mobile") {
				continue // HarmonyOS computers
			}
			return true
		}
	}
	return false
}

// DesktopOnly answers GET and HEAD requests from phones and tablets with
// the desktop-only page (HTTP 200, so in-app browsers show it rather than
// an error) and counts them; other requests pass. Wrap the portal's pages
// with it, not the vendor callbacks, which phones reach after a scan.
func (p *Portals) DesktopOnly(pt config.Portal, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && IsMobile(r.UserAgent()) {
			p.o.Metrics.DesktopOnly(pt.ID)
			w.Header().Add("Vary", "User-Agent")
			p.o.Pages.Render(w, r, http.StatusOK, web.Page{Name: "desktop", Title: "请使用电脑办理", Step: "desktop_only", Portal: pt,
				Notices: []web.Notice{{Tone: web.ToneWarn, Kind: "desktop_only", Text: "手机和平板电脑不能办理实名认证和报名。"}}})
			return
		}
		w.Header().Add("Vary", "User-Agent")
		next.ServeHTTP(w, r)
	})
}
