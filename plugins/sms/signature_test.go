package sms

import (
	"net/url"
	"testing"
)

// TestSignatureDocumentExample reproduces the worked example of Alibaba
// Cloud's SMS signature document (https://help.aliyun.com/document_detail/101343.htm):
// AccessKeyId testId, AccessKeySecret testSecret, a GET of SendSms.
func TestSignatureDocumentExample(t *testing.T) {
	p := url.Values{
		"AccessKeyId": {"testId"}, "Action": {"SendSms"}, "Format": {"XML"}, "OutId": {"123"},
		"PhoneNumbers": {"15300000001"}, "RegionId": {"cn-hangzhou"}, "SignName": {"阿里云短信测试专用"},
		"SignatureMethod": {"HMAC-SHA1"}, "SignatureNonce": {"45e25e9b-0a6f-4070-8c85-2956eda1b466"},
		"SignatureVersion": {"1.0"}, "TemplateCode": {"SMS_71390007"}, "TemplateParam": {`{"customer":"test"}`},
		"Timestamp": {"2017-07-12T02:42:19Z"}, "Version": {"2017-05-25"},
	}
	const query = "AccessKeyId=testId&Action=SendSms&Format=XML&OutId=123&PhoneNumbers=15300000001&RegionId=cn-hangzhou" +
		"&SignName=%E9%98%BF%E9%87%8C%E4%BA%91%E7%9F%AD%E4%BF%A1%E6%B5%8B%E8%AF%95%E4%B8%93%E7%94%A8&SignatureMethod=HMAC-SHA1" +
		"&SignatureNonce=45e25e9b-0a6f-4070-8c85-2956eda1b466&SignatureVersion=1.0&TemplateCode=SMS_71390007" +
		"&TemplateParam=%7B%22customer%22%3A%22test%22%7D&Timestamp=2017-07-12T02%3A42%3A19Z&Version=2017-05-25"
	if got := canonicalQuery(p); got != query {
		t.Fatalf("canonicalQuery =\n%s\nwant\n%s", got, query)
	}
	if got, want := stringToSign("GET", p), "GET&%2F&"+percentEncode(query); got != want {
		t.Fatalf("stringToSign = %s", got)
	}
	p.Set("Signature", "not part of what is signed")
	if got := sign("GET", p, "testSecret"); got != "zJDF+Lrzhj/ThnlvIToysFRq6t4=" {
		t.Fatalf("sign = %s, want zJDF+Lrzhj/ThnlvIToysFRq6t4=", got)
	}
}

func TestPercentEncode(t *testing.T) {
	cases := []struct{ in, want string }{
		{"AZaz09-_.~", "AZaz09-_.~"},
		{"a b", "a%20b"},
		{"*", "%2A"},
		{"+", "%2B"},
		{"/", "%2F"},
		{"=&", "%3D%26"},
		{"%", "%25"},
		{"短", "%E7%9F%AD"},
		{"\x00\xff", "%00%FF"},
		{"", ""},
	}
	for _, tc := range cases {
		if got := percentEncode(tc.in); got != tc.want {
			t.Errorf("percentEncode(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
