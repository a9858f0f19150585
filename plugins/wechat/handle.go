package wechat

import "time"

// handleLabel keys the handles the provider gives out (QR-session uuids,
// face certify ids) under handle_key; see plugins/sdk/handle.
const handleLabel = "shiming wechat handle v1"

// Kinds of handle; a handle of one kind is not accepted as another. A
// scan handle is bound to the website app id, a face handle to the app
// that runs face verification, so any replica configured alike opens them
// and one made under another app id or handle_key does not.
const (
	handleScan = "scan"
	handleFace = "face"
)

// scanHandle is what a QR-session uuid carries.
type scanHandle struct {
	UUID    string `json:"u"` // WeChat's QR uuid
	State   string `json:"s"` // the state given to BeginScan
	Expires int64  `json:"e"` // unix seconds
}

func (h scanHandle) expires() time.Time { return time.Unix(h.Expires, 0) }

// faceHandle is what a face certify id carries: everything
// queryverifyinfo needs besides the access token.
type faceHandle struct {
	VerifyID string `json:"v"`
	OutSeqNo string `json:"q"`
	OpenID   string `json:"o"`
	CertHash string `json:"h"`
	Expires  int64  `json:"e"` // unix seconds
}
