package alipay

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"

	sdk "github.com/smartwalle/alipay/v3"
	"github.com/smartwalle/nsign"

	"github.com/shiming-id/shiming/contrib/sandbox/phone"
)

// smartwalleClient is the third-party SDK pointed at the sandbox by a
// base-URL change only, verifying responses with the published key.
func smartwalleClient(t *testing.T, f *fixture, appID, keyName string) *sdk.Client {
	t.Helper()
	c, err := sdk.New(appID, readTestdata(t, keyName+"_private.pem"), true,
		sdk.WithProductionGateway(f.gatewayURL()),
		sdk.WithHTTPClient(f.srv.Client()),
		sdk.WithTimeLocation(beijing))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.srv.Client().Get(f.srv.URL + "/" + HostOpenAPI + PublicKeyPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	pub, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.LoadAliPayPublicKey(string(pub)); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSmartwalleInterop(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	client := smartwalleClient(t, f, appA, "app_a")
	c001 := f.citizen(t, "c001")

	code := f.login(t, appA, scopeUser, "c001")
	tok, err := client.SystemOauthToken(ctx, sdk.SystemOauthToken{GrantType: "authorization_code", Code: code})
	if err != nil {
		t.Fatalf("SystemOauthToken: %v", err)
	}
	if !tok.IsSuccess() || tok.OpenId == "" || tok.RefreshToken == "" || tok.ExpiresIn <= 0 {
		t.Fatalf("token %+v", tok)
	}

	t.Run("a reused auth code", func(t *testing.T) {
		_, err := client.SystemOauthToken(ctx, sdk.SystemOauthToken{GrantType: "authorization_code", Code: code})
		var e *sdk.Error
		if !errors.As(err, &e) || e.Code != "40002" || e.SubCode != "isv.code-invalid" || e.SubMsg != "授权码code无效" || e.Msg != "Invalid Arguments" {
			t.Fatalf("err = %#v", err)
		}
	})

	t.Run("user info", func(t *testing.T) {
		info, err := client.UserInfoShare(ctx, sdk.UserInfoShare{AuthToken: tok.AccessToken})
		if err != nil {
			t.Fatalf("UserInfoShare: %v", err)
		}
		if !info.IsSuccess() || info.UserId != tok.UserId || info.CertNo != c001.IDNumber || info.Username != c001.RegistryName || info.Mobile != c001.Phone {
			t.Fatalf("info %+v", info)
		}
		bad, err := client.UserInfoShare(ctx, sdk.UserInfoShare{AuthToken: "authusrBnope"})
		if err != nil || bad.Code != "20001" || bad.SubCode != "aop.invalid-auth-token" {
			t.Fatalf("bad token: %+v %v", bad, err)
		}
	})

	t.Run("refresh", func(t *testing.T) {
		next, err := client.SystemOauthToken(ctx, sdk.SystemOauthToken{GrantType: "refresh_token", RefreshToken: tok.RefreshToken})
		if err != nil || next.AccessToken == "" || next.AccessToken == tok.AccessToken || next.UserId != tok.UserId {
			t.Fatalf("refresh: %+v %v", next, err)
		}
	})

	t.Run("face verification", func(t *testing.T) {
		init, err := client.UserCertifyOpenInitialize(ctx, sdk.UserCertifyOpenInitialize{
			OuterOrderNo:   "SW0000000000000000000000000001",
			BizCode:        sdk.CertifyBizCodeFace,
			IdentityParam:  sdk.IdentityParam{IdentityType: "CERT_INFO", CertType: "IDENTITY_CARD", CertName: c001.Name, CertNo: c001.IDNumber},
			MerchantConfig: sdk.MerchantConfig{ReturnURL: "https://gateway.example/face/done"},
		})
		if err != nil || !init.IsSuccess() || init.CertifyId == "" {
			t.Fatalf("initialize: %+v %v", init, err)
		}
		u, err := client.UserCertifyOpenCertify(sdk.UserCertifyOpenCertify{CertifyId: init.CertifyId})
		if err != nil {
			t.Fatal(err)
		}
		it, found := f.sim.Lookup(ctx, u.String())
		if !found || it.Kind != "face" {
			t.Fatalf("the phone does not recognise the SDK's certify URL %s", u)
		}
		resp, err := f.srv.Client().Get(u.String())
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Contains(page, []byte("支付宝身份验证")) {
			t.Fatalf("certify page %d: %s", resp.StatusCode, page)
		}
		q, err := client.UserCertifyOpenQuery(ctx, sdk.UserCertifyOpenQuery{CertifyId: init.CertifyId})
		if err != nil || !q.IsSuccess() || q.Passed != "F" {
			t.Fatalf("query before: %+v %v", q, err)
		}
		if _, err := f.sim.Act(ctx, it.ID, phone.Pass, c001); err != nil {
			t.Fatal(err)
		}
		q, err = client.UserCertifyOpenQuery(ctx, sdk.UserCertifyOpenQuery{CertifyId: init.CertifyId})
		if err != nil || !q.IsSuccess() || q.Passed != "T" || q.IdentityInfo == "" || q.MaterialInfo == "" {
			t.Fatalf("query after: %+v %v", q, err)
		}
		none, err := client.UserCertifyOpenQuery(ctx, sdk.UserCertifyOpenQuery{CertifyId: "ffffffffffffffffffffffffffffffff"})
		if err != nil || none.Code != "40004" || none.SubCode != "OPEN_CERTIFY_BILL_NOT_EXIST" || none.SubMsg != "无效的certify_id" {
			t.Fatalf("unknown certify_id: %+v %v", none, err)
		}
	})

	t.Run("a request signed with another private key", func(t *testing.T) {
		wrong := smartwalleClient(t, f, appA, "stranger")
		res, err := wrong.SystemOauthToken(ctx, sdk.SystemOauthToken{GrantType: "authorization_code", Code: f.login(t, appA, scopeBase, "c002")})
		// The answer is in the method's node and signed, so the SDK
		// verifies it and hands over the code.
		if err != nil || res.Code != "40002" || res.SubCode != "isv.invalid-signature" || res.Msg != "Invalid Arguments" {
			t.Fatalf("%+v %v", res, err)
		}
		if len(res.SubMsg) <= len(invalidSignaturePrefix) || res.SubMsg[:len(invalidSignaturePrefix)] != invalidSignaturePrefix {
			t.Fatalf("sub_msg %q", res.SubMsg)
		}
	})

	t.Run("an unknown app", func(t *testing.T) {
		stranger := smartwalleClient(t, f, "2021000000009999", "stranger")
		_, err := stranger.UserInfoShare(ctx, sdk.UserInfoShare{AuthToken: tok.AccessToken})
		var e *sdk.Error
		if !errors.As(err, &e) || e.SubCode != "isv.invalid-app-id" {
			t.Fatalf("err = %#v", err)
		}
	})
}

// TestSignatureBaseMatchesSmartwalle compares the string the gateway
// verifies with the one the SDK signs.
func TestSignatureBaseMatchesSmartwalle(t *testing.T) {
	f := newFixture(t)
	client := smartwalleClient(t, f, appA, "app_a")
	v, err := client.URLValues(sdk.UserCertifyOpenQuery{CertifyId: "abc/def&x=1 中文"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	theirs, err := sdk.Encoder{}.EncodeValues(&buf, v, &nsign.SignOptions{Ignores: map[string]struct{}{"sign": {}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := signatureBase(v); got != string(theirs) {
		t.Fatalf("base\n got %s\nwant %s", got, theirs)
	}
	if err := verifyRSA2(&testKey(t, "app_a").PublicKey, []byte(signatureBase(v)), v.Get("sign")); err != nil {
		t.Fatalf("the SDK's signature does not verify: %v", err)
	}
}
