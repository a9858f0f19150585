package main

import (
	"fmt"
	"io"

	"github.com/shiming-id/shiming/contrib/sandbox"
	"github.com/shiming-id/shiming/plugins/alipay"
	"github.com/shiming-id/shiming/plugins/ctid"
	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sms"
	"github.com/shiming-id/shiming/plugins/wechat"
)

// builtins are the providers compiled into this binary, served as
// `shiming plugin NAME` so that they run as separate processes behind the
// same go-plugin boundary as third-party plugins.
var builtins = map[string]func() sdk.Provider{
	"wechat": func() sdk.Provider { return wechat.New() },
	"alipay": func() sdk.Provider { return alipay.New() },
	"ctid":   func() sdk.Provider { return ctid.New() },
	"sms":    func() sdk.Provider { return sms.New() },
}

// runPlugin implements `shiming plugin NAME`. Standard output carries the
// go-plugin handshake, so nothing else may be written there.
func runPlugin(args []string, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: shiming plugin NAME (the gateway runs this; it is not for people)")
		return exitUsage
	}
	newProvider, ok := builtins[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "shiming plugin: no built-in provider %q\n", args[0])
		return exitUsage
	}
	sdk.Serve(newProvider())
	return 0
}

// sandboxVendors is what the gateway needs to know of a sandbox to point
// the built-in providers at it: *sandbox.Sandbox in-process, or
// remoteSandbox for one running as its own process.
type sandboxVendors interface {
	URL(host, path string) string
	AlipayPublicKeyPEM() string
	CTIDPlatformPublicKeyPEM() string
	OIDCIssuer() string
}

// sandboxProviderConfig is a built-in provider's configuration pointing
// at the sandbox with its demo credentials.
func sandboxProviderConfig(builtin string, apps sandbox.Apps, sb sandboxVendors) (map[string]any, error) {
	switch builtin {
	case "wechat":
		if len(apps.WeChat) == 0 {
			return nil, fmt.Errorf("sandbox has no WeChat app")
		}
		a := apps.WeChat[0]
		return map[string]any{
			"app_id":     a.AppID,
			"app_secret": a.Secret,
			"api_base":   sb.URL("api.weixin.qq.com", ""),
			"open_base":  sb.URL("open.weixin.qq.com", ""),
			"lp_base":    sb.URL("lp.open.weixin.qq.com", ""),
			// The sandbox's stand-in for the mini-program page that runs
			// WeChat face verification.
			"face_page_url": sb.URL("wxa.sandbox", "/face"),
		}, nil
	case "alipay":
		if len(apps.Alipay) == 0 {
			return nil, fmt.Errorf("sandbox has no Alipay app")
		}
		a := apps.Alipay[0]
		return map[string]any{
			"app_id":            a.AppID,
			"app_private_key":   a.AppPrivateKeyPEM,
			"alipay_public_key": sb.AlipayPublicKeyPEM(),
			"gateway_url":       sb.URL("openapi.alipay.com", "/gateway.do"),
			"openauth_base":     sb.URL("openauth.alipay.com", ""),
		}, nil
	case "ctid":
		if len(apps.CTID) == 0 {
			return nil, fmt.Errorf("sandbox has no CTID organisation")
		}
		o := apps.CTID[0]
		return map[string]any{
			"org_code":            o.OrgCode,
			"org_private_key":     o.OrgPrivateKeyPEM,
			"platform_public_key": sb.CTIDPlatformPublicKeyPEM(),
			"base_url":            sb.URL("ctid.sandbox", ""),
		}, nil
	case "sms":
		if len(apps.SMS) == 0 {
			return nil, fmt.Errorf("sandbox has no SMS key")
		}
		k := apps.SMS[0]
		return map[string]any{
			"access_key_id":     k.AccessKeyID,
			"access_key_secret": k.AccessKeySecret,
			"sign_name":         k.SignName,
			"api_base":          sb.URL("dysmsapi.aliyuncs.com", "/"),
		}, nil
	}
	return nil, fmt.Errorf("no sandbox settings for built-in provider %q", builtin)
}
