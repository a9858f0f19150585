package sdk

import (
	"context"
	"encoding/json"

	"google.golang.org/grpc"

	pb "github.com/shiming-id/shiming/plugins/sdk/proto/providerv1"
)

// Client calls a provider plugin over gRPC. It implements every
// capability interface; a call to a capability the plugin does not
// declare fails with NotSupported.
//
// Every error is a *Error. When the plugin answered, it has the kind,
// vendor code, fields and message the plugin returned. When it did not
// (gRPC's own status, no ErrorDetail): a deadline is VendorUnavailable
// and a cancelled call Cancelled, both matching the context error with
// errors.Is; an unreachable plugin is VendorUnavailable (IsTransport
// tells it from a vendor outage the plugin reported); Unimplemented is
// NotSupported; anything else Internal.
//
// The gateway does not use a Client directly: its plugin host wraps one
// with supervision, deadlines and retries.
type Client struct {
	root  pb.ProviderClient
	scan  pb.ScanLoginClient
	ident pb.IdentityCheckClient
	face  pb.FaceVerificationClient
	phone pb.PhoneClient
	done  <-chan struct{}
}

// NewClient returns a Client over cc.
func NewClient(cc grpc.ClientConnInterface) *Client {
	return &Client{
		root:  pb.NewProviderClient(cc),
		scan:  pb.NewScanLoginClient(cc),
		ident: pb.NewIdentityCheckClient(cc),
		face:  pb.NewFaceVerificationClient(cc),
		phone: pb.NewPhoneClient(cc),
	}
}

// Done is closed when go-plugin sees the plugin process exit. It is nil,
// and so never closes, for a Client made with NewClient.
func (c *Client) Done() <-chan struct{} { return c.done }

// Info asks the plugin for its name, version and capabilities.
func (c *Client) Info(ctx context.Context) (Info, error) {
	r, err := c.root.Info(ctx, &pb.InfoRequest{})
	if err != nil {
		return Info{}, statusToError(err)
	}
	caps := make([]Capability, len(r.GetCapabilities()))
	for i, x := range r.GetCapabilities() {
		caps[i] = Capability(x)
	}
	return Info{
		Name:            r.GetName(),
		Version:         r.GetVersion(),
		ProtocolVersion: int(r.GetProtocolVersion()),
		Capabilities:    caps,
		Description:     r.GetDescription(),
	}, nil
}

// Configure hands the plugin its configuration.
func (c *Client) Configure(ctx context.Context, config json.RawMessage) error {
	_, err := c.root.Configure(ctx, &pb.ConfigureRequest{ConfigJson: config})
	return statusToError(err)
}

// Health asks the plugin whether it can serve calls.
func (c *Client) Health(ctx context.Context) (Health, error) {
	r, err := c.root.Health(ctx, &pb.HealthRequest{})
	if err != nil {
		return Health{}, statusToError(err)
	}
	return Health{Status: HealthStatus(r.GetStatus()), Message: r.GetMessage()}, nil
}

func (c *Client) BeginScan(ctx context.Context, req BeginScanRequest) (ScanSession, error) {
	r, err := c.scan.BeginScan(ctx, &pb.BeginScanRequest{CallbackUrl: req.CallbackURL, State: req.State})
	if err != nil {
		return ScanSession{}, statusToError(err)
	}
	return ScanSession{UUID: r.GetUuid(), QRContent: r.GetQrContent(), ExpiresAt: fromTimestamp(r.GetExpiresAt())}, nil
}

func (c *Client) PollScan(ctx context.Context, uuid string) (ScanStatus, error) {
	r, err := c.scan.PollScan(ctx, &pb.PollScanRequest{Uuid: uuid})
	if err != nil {
		return ScanStatus{}, statusToError(err)
	}
	return ScanStatus{State: ScanState(r.GetState()), Code: r.GetCode()}, nil
}

func (c *Client) ScanCallback(ctx context.Context, uuid string, query map[string]string) (ScanStatus, error) {
	r, err := c.scan.ScanCallback(ctx, &pb.ScanCallbackRequest{Uuid: uuid, Query: query})
	if err != nil {
		return ScanStatus{}, statusToError(err)
	}
	return ScanStatus{State: ScanState(r.GetState()), Code: r.GetCode()}, nil
}

func (c *Client) ExchangeCode(ctx context.Context, uuid, code string) (Identity, error) {
	r, err := c.scan.ExchangeCode(ctx, &pb.ExchangeCodeRequest{Uuid: uuid, Code: code})
	if err != nil {
		return Identity{}, statusToError(err)
	}
	id := r.GetIdentity()
	return Identity{
		Subject:     id.GetSubject(),
		SubjectIDs:  id.GetSubjectIds(),
		DisplayName: id.GetDisplayName(),
		Name:        id.GetName(),
		IDNumber:    id.GetIdNumber(),
		Phone:       id.GetPhone(),
		Level:       AssuranceLevel(id.GetLevel()),
		Reference:   id.GetReference(),
	}, nil
}

func (c *Client) CheckIdentity(ctx context.Context, name, idNumber string) (string, error) {
	r, err := c.ident.CheckIdentity(ctx, &pb.CheckIdentityRequest{Name: name, IdNumber: idNumber})
	if err != nil {
		return "", statusToError(err)
	}
	return r.GetReference(), nil
}

func (c *Client) BeginFace(ctx context.Context, req FaceRequest) (FaceSession, error) {
	r, err := c.face.BeginFace(ctx, &pb.BeginFaceRequest{
		Name:      req.Name,
		IdNumber:  req.IDNumber,
		Subject:   req.Subject,
		ReturnUrl: req.ReturnURL,
	})
	if err != nil {
		return FaceSession{}, statusToError(err)
	}
	return FaceSession{CertifyID: r.GetCertifyId(), QRContent: r.GetQrContent(), ExpiresAt: fromTimestamp(r.GetExpiresAt())}, nil
}

func (c *Client) QueryFace(ctx context.Context, certifyID string) (FaceStatus, error) {
	r, err := c.face.QueryFace(ctx, &pb.QueryFaceRequest{CertifyId: certifyID})
	if err != nil {
		return FaceStatus{}, statusToError(err)
	}
	return FaceStatus{
		Result:     FaceResult(r.GetResult()),
		Reason:     Kind(r.GetReason()),
		VendorCode: r.GetVendorCode(),
		Reference:  r.GetReference(),
	}, nil
}

func (c *Client) SendCode(ctx context.Context, phone, purpose string) (CodeTicket, error) {
	r, err := c.phone.SendCode(ctx, &pb.SendCodeRequest{Phone: phone, Purpose: purpose})
	if err != nil {
		return CodeTicket{}, statusToError(err)
	}
	return CodeTicket{Ticket: r.GetTicket(), ExpiresAt: fromTimestamp(r.GetExpiresAt())}, nil
}

func (c *Client) VerifyCode(ctx context.Context, ticket, phone, purpose, code string) error {
	_, err := c.phone.VerifyCode(ctx, &pb.VerifyCodeRequest{Ticket: ticket, Phone: phone, Purpose: purpose, Code: code})
	return statusToError(err)
}

func (c *Client) CheckOwner(ctx context.Context, phone, name, idNumber string) error {
	_, err := c.phone.CheckOwner(ctx, &pb.CheckOwnerRequest{Phone: phone, Name: name, IdNumber: idNumber})
	return statusToError(err)
}

func (c *Client) SendNotice(ctx context.Context, phone string, n Notice) error {
	_, err := c.phone.SendNotice(ctx, &pb.SendNoticeRequest{Phone: phone, Kind: n.Kind, Params: n.Params})
	return statusToError(err)
}

var (
	_ Provider          = (*Client)(nil)
	_ HealthChecker     = (*Client)(nil)
	_ ScanLogin         = (*Client)(nil)
	_ IdentityChecker   = (*Client)(nil)
	_ FaceVerifier      = (*Client)(nil)
	_ PhoneVerifier     = (*Client)(nil)
	_ PhoneOwnerChecker = (*Client)(nil)
	_ PhoneNotifier     = (*Client)(nil)
)
