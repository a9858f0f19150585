package web

import (
	"fmt"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk"
)

// Where says where a provider error was met; the wording differs.
type Where int

const (
	AtScan Where = iota + 1
	AtFace
	AtIdentity
	AtSMS
)

// providerNames are the names candidates know the built-in providers by.
var providerNames = map[string]string{
	"wechat": "微信",
	"alipay": "支付宝",
	"ctid":   "网证CTID",
	"sms":    "短信",
}

// ProviderName returns a provider's display name.
func ProviderName(name string) string {
	if n, ok := providerNames[name]; ok {
		return n
	}
	return name
}

// Fixed sentences shared by several pages.
const (
	TextQRRefreshed     = "二维码已更新，请用手机重新扫码。"
	TextScanCancelled   = "您已在手机上取消，可重新扫码。"
	TextFaceRefreshed   = "人脸识别二维码已更新，请用手机重新扫码。"
	TextFaceCancelled   = "您已在手机上取消人脸识别，可重新扫码开始。"
	TextFaceMismatch    = "人脸比对未通过：拍摄的人脸与身份证照片不一致。请在光线充足的地方，正对手机摄像头重新识别。"
	TextLivenessFailed  = "活体检测未通过。请按手机上的提示完成眨眼、转头等动作，在光线充足的地方重新识别。"
	TextNameIDMismatch  = "姓名和身份证号码不匹配：您填写的姓名与身份证号码，和国家人口信息库登记的不一致。"
	TextSMSWrong        = "短信验证码不正确，请核对后重新输入。"
	TextSMSExpired      = "短信验证码已过期，请重新获取。"
	TextSMSWrongPhone   = "该验证码不是发送给这个手机号码的，请重新获取验证码。"
	TextSMSNotSent      = "请先获取短信验证码。"
	TextSMSAttempts     = "验证码错误次数过多，请重新获取验证码。"
	TextFlowForeign     = "此操作是在另一个浏览器中开始的。为保护您的信息，请回到原来的浏览器继续，或从报名入口重新开始。"
	TextFlowExpired     = "本次操作已超时或不存在。请从报名入口重新开始。"
	TextBackToComputer  = "请回到电脑继续。电脑上的页面会自动进入下一步。"
	TextTooManyAttempts = "尝试次数过多，请稍后从报名入口重新开始。"
)

// KindText is the fixed sentence for a provider error of kind k met at
// where, from provider.
func KindText(where Where, k sdk.Kind, provider string) string {
	p := ProviderName(provider)
	switch where {
	case AtScan:
		switch k {
		case sdk.CodeReused, sdk.CodeInvalid, sdk.UUIDInvalid, sdk.Expired:
			return TextQRRefreshed
		case sdk.Cancelled:
			return TextScanCancelled
		}
	case AtFace:
		switch k {
		case sdk.FaceMismatch:
			return TextFaceMismatch
		case sdk.LivenessFailed:
			return TextLivenessFailed
		case sdk.Cancelled:
			return TextFaceCancelled
		case sdk.Expired, sdk.UUIDInvalid:
			return TextFaceRefreshed
		}
		p += "人脸识别"
	case AtIdentity:
		if k == sdk.NameIDMismatch {
			return TextNameIDMismatch
		}
		p = "身份核验"
	case AtSMS:
		switch k {
		case sdk.CodeInvalid:
			return TextSMSWrong
		case sdk.Expired:
			return TextSMSExpired
		case sdk.InvalidRequest:
			return TextSMSWrongPhone
		case sdk.RateLimited:
			return "短信发送过于频繁，请稍后再试。"
		}
		p = "短信"
	}
	switch k {
	case sdk.RateLimited:
		return p + "服务当前访问人数较多，请稍后重试。"
	case sdk.VendorUnavailable:
		return p + "服务暂时繁忙，请稍后重试。"
	case sdk.NotSupported, sdk.InvalidConfig:
		return p + "暂时无法提供此服务，请稍后重试或选择其他方式。"
	}
	return p + "服务暂时出现问题，请稍后重试。"
}

// Wait is a duration as a candidate reads it: "45 秒", "3 分钟", "2 小时".
func Wait(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d 秒", max(int((d+time.Second-1)/time.Second), 1))
	case d < time.Hour:
		return fmt.Sprintf("%d 分钟", int((d+time.Minute-1)/time.Minute))
	default:
		return fmt.Sprintf("%d 小时", int((d+time.Hour-1)/time.Hour))
	}
}

// ValidFor says how long a one-time code lives, or "" when unknown.
func ValidFor(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return Wait(d)
}

// levelNames are the Chinese names of evidence levels.
var levelNames = map[string]string{
	"phone":   "手机号码验证",
	"name_id": "姓名与身份证号码核验",
	"face":    "人脸识别",
	"ctid":    "网证（身份证芯片）",
}

// LevelName returns an evidence level's display name.
func LevelName(level string) string {
	if n, ok := levelNames[level]; ok {
		return n
	}
	return level
}
