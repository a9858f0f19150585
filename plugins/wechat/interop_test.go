package wechat

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"strconv"
	"testing"

	"github.com/shiming-id/shiming/plugins/sdk"
)

// TestRequestsAreWhatWeChatExpects runs a scan login and a face
// verification against a recording WeChat and compares every request
// (method, host and path, every query parameter, the JSON body) with
// testdata/interop/requests.json, written from WeChat's documentation
// (vendor-protocols §1). Values that change on every run are compared by
// shape: {ms} is the clock in milliseconds, {out_seq_no} the same
// out_seq_no in both face calls.
func TestRequestsAreWhatWeChatExpects(t *testing.T) {
	s, c := newStub(t), newFixedClock()
	p := s.provider(c, nil)
	ctx := context.Background()
	ss := beginScan(t, p, "st1")
	s.on(routeLongPoll, fx("lp/405.js"))
	st, err := p.PollScan(ctx, ss.UUID)
	if err != nil || st.State != sdk.ScanConfirmed {
		t.Fatalf("PollScan = %+v, %v", st, err)
	}
	if _, err := p.ExchangeCode(ctx, ss.UUID, st.Code); err != nil {
		t.Fatal(err)
	}
	fs := beginFace(t, p)
	if _, err := p.QueryFace(ctx, fs.CertifyID); err != nil {
		t.Fatal(err)
	}

	var want []map[string]any
	b, err := os.ReadFile("testdata/interop/requests.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	got := s.requests()
	if len(got) != len(want) {
		t.Fatalf("%d requests, want %d: %+v", len(got), len(want), got)
	}
	ms := strconv.FormatInt(c.Now().UnixMilli(), 10)
	var outSeqNo string
	for i, r := range got {
		w := want[i]
		delete(w, "_doc")
		g := map[string]any{"method": r.Method, "path": r.Path, "query": map[string]any{}}
		for k, v := range r.Query {
			if k == "_" && v == ms {
				v = "{ms}"
			}
			g["query"].(map[string]any)[k] = v
		}
		if r.ContentType != "" {
			g["content_type"] = r.ContentType
		}
		if len(r.Body) > 0 {
			var body map[string]any
			if err := json.Unmarshal(r.Body, &body); err != nil {
				t.Fatalf("request %d: body is not a JSON object: %s", i, r.Body)
			}
			if seq, ok := body["out_seq_no"].(string); ok && outSeqNoRE.MatchString(seq) && (outSeqNo == "" || seq == outSeqNo) {
				outSeqNo = seq
				body["out_seq_no"] = "{out_seq_no}"
			}
			g["body"] = body
		}
		if !reflect.DeepEqual(normalise(g), normalise(w)) {
			gj, _ := json.MarshalIndent(g, "", " ")
			wj, _ := json.MarshalIndent(w, "", " ")
			t.Errorf("request %d:\n got %s\nwant %s", i, gj, wj)
		}
	}
}

// normalise round-trips v through JSON so that both sides have the same
// Go types.
func normalise(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// TestConfirmURLIsWeChatsForTheRealHost checks the QR content built from
// the default open_base: the address a phone opens for the uuid.
func TestConfirmURLIsWeChatsForTheRealHost(t *testing.T) {
	c, err := parseConfig(json.RawMessage(`{"app_id":"wx1","app_secret":"s","handle_key":"` + testKey + `"}`))
	if err != nil {
		t.Fatal(err)
	}
	st := &state{cfg: c}
	if got, want := st.confirmURL("4Y0N_jyVQg=="), "https://open.weixin.qq.com/connect/confirm?uuid=4Y0N_jyVQg%3D%3D"; got != want {
		t.Errorf("confirmURL = %s, want %s", got, want)
	}
}
