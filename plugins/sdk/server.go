package sdk

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/shiming-id/shiming/plugins/sdk/proto/providerv1"
)

// infoTimeout bounds the Info call Serve makes before the handshake.
const infoTimeout = 5 * time.Second

// server adapts a Provider to the generated services. A capability
// interface is kept only when the provider declares the capability, so a
// call to an undeclared one answers NotSupported even when the Go type
// happens to implement it.
type server struct {
	pb.UnimplementedProviderServer
	pb.UnimplementedScanLoginServer
	pb.UnimplementedIdentityCheckServer
	pb.UnimplementedFaceVerificationServer
	pb.UnimplementedPhoneServer

	p      Provider
	health HealthChecker
	scan   ScanLogin
	ident  IdentityChecker
	face   FaceVerifier
	phone  PhoneVerifier
	owner  PhoneOwnerChecker
	notice PhoneNotifier
}

// newServer asks p for its Info and checks that it implements every
// capability it declares. info, when not nil, is used instead of asking.
func newServer(ctx context.Context, p Provider, info *Info) (*server, error) {
	if p == nil {
		return nil, errors.New("sdk: no provider to serve")
	}
	if info == nil {
		in, err := p.Info(ctx)
		if err != nil {
			return nil, fmt.Errorf("sdk: provider info: %w", err)
		}
		info = &in
	}
	s := &server{p: p}
	s.health, _ = p.(HealthChecker)
	var missing []string
	for _, c := range info.Capabilities {
		ok := false
		switch c {
		case CapabilityScanLogin:
			s.scan, ok = p.(ScanLogin)
		case CapabilityIdentityCheck:
			s.ident, ok = p.(IdentityChecker)
		case CapabilityFaceVerification:
			s.face, ok = p.(FaceVerifier)
		case CapabilityPhone:
			s.phone, ok = p.(PhoneVerifier)
		case CapabilityPhoneOwner:
			s.owner, ok = p.(PhoneOwnerChecker)
		case CapabilityPhoneNotice:
			s.notice, ok = p.(PhoneNotifier)
		default:
			return nil, fmt.Errorf("sdk: provider declares unknown capability %d", int(c))
		}
		if !ok {
			missing = append(missing, c.String())
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("sdk: provider %q declares %v but does not implement the matching interfaces", info.Name, missing)
	}
	return s, nil
}

// register adds the root service and the services of declared
// capabilities to g.
func (s *server) register(g grpc.ServiceRegistrar) {
	pb.RegisterProviderServer(g, s)
	if s.scan != nil {
		pb.RegisterScanLoginServer(g, s)
	}
	if s.ident != nil {
		pb.RegisterIdentityCheckServer(g, s)
	}
	if s.face != nil {
		pb.RegisterFaceVerificationServer(g, s)
	}
	if s.phone != nil || s.owner != nil || s.notice != nil {
		pb.RegisterPhoneServer(g, s)
	}
}

func notSupported(c Capability) error {
	return E(NotSupported, "capability "+c.String()+" is not declared")
}

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func fromTimestamp(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

func (s *server) Info(ctx context.Context, _ *pb.InfoRequest) (*pb.InfoResponse, error) {
	in, err := s.p.Info(ctx)
	if err != nil {
		return nil, err
	}
	pv := in.ProtocolVersion
	if pv == 0 {
		pv = ProtocolVersion
	}
	caps := make([]pb.Capability, len(in.Capabilities))
	for i, c := range in.Capabilities {
		caps[i] = pb.Capability(c)
	}
	return &pb.InfoResponse{
		Name:            in.Name,
		Version:         in.Version,
		ProtocolVersion: int32(pv),
		Capabilities:    caps,
		Description:     in.Description,
	}, nil
}

func (s *server) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	if err := s.p.Configure(ctx, req.GetConfigJson()); err != nil {
		return nil, err
	}
	return &pb.ConfigureResponse{}, nil
}

func (s *server) Health(ctx context.Context, _ *pb.HealthRequest) (*pb.HealthResponse, error) {
	if s.health == nil {
		return &pb.HealthResponse{Status: pb.HealthResponse_STATUS_SERVING}, nil
	}
	h, err := s.health.Health(ctx)
	if err != nil {
		return nil, err
	}
	return &pb.HealthResponse{Status: pb.HealthResponse_Status(h.Status), Message: h.Message}, nil
}

func (s *server) BeginScan(ctx context.Context, req *pb.BeginScanRequest) (*pb.BeginScanResponse, error) {
	if s.scan == nil {
		return nil, notSupported(CapabilityScanLogin)
	}
	ss, err := s.scan.BeginScan(ctx, BeginScanRequest{CallbackURL: req.GetCallbackUrl(), State: req.GetState()})
	if err != nil {
		return nil, err
	}
	return &pb.BeginScanResponse{Uuid: ss.UUID, QrContent: ss.QRContent, ExpiresAt: timestamp(ss.ExpiresAt)}, nil
}

func (s *server) PollScan(ctx context.Context, req *pb.PollScanRequest) (*pb.ScanStatus, error) {
	if s.scan == nil {
		return nil, notSupported(CapabilityScanLogin)
	}
	st, err := s.scan.PollScan(ctx, req.GetUuid())
	if err != nil {
		return nil, err
	}
	return &pb.ScanStatus{State: pb.ScanStatus_State(st.State), Code: st.Code}, nil
}

func (s *server) ScanCallback(ctx context.Context, req *pb.ScanCallbackRequest) (*pb.ScanStatus, error) {
	if s.scan == nil {
		return nil, notSupported(CapabilityScanLogin)
	}
	st, err := s.scan.ScanCallback(ctx, req.GetUuid(), req.GetQuery())
	if err != nil {
		return nil, err
	}
	return &pb.ScanStatus{State: pb.ScanStatus_State(st.State), Code: st.Code}, nil
}

func (s *server) ExchangeCode(ctx context.Context, req *pb.ExchangeCodeRequest) (*pb.ExchangeCodeResponse, error) {
	if s.scan == nil {
		return nil, notSupported(CapabilityScanLogin)
	}
	id, err := s.scan.ExchangeCode(ctx, req.GetUuid(), req.GetCode())
	if err != nil {
		return nil, err
	}
	return &pb.ExchangeCodeResponse{Identity: &pb.Identity{
		Subject:     id.Subject,
		SubjectIds:  id.SubjectIDs,
		DisplayName: id.DisplayName,
		Name:        id.Name,
		IdNumber:    id.IDNumber,
		Phone:       id.Phone,
		Level:       pb.AssuranceLevel(id.Level),
		Reference:   id.Reference,
	}}, nil
}

func (s *server) CheckIdentity(ctx context.Context, req *pb.CheckIdentityRequest) (*pb.CheckIdentityResponse, error) {
	if s.ident == nil {
		return nil, notSupported(CapabilityIdentityCheck)
	}
	ref, err := s.ident.CheckIdentity(ctx, req.GetName(), req.GetIdNumber())
	if err != nil {
		return nil, err
	}
	return &pb.CheckIdentityResponse{Reference: ref}, nil
}

func (s *server) BeginFace(ctx context.Context, req *pb.BeginFaceRequest) (*pb.BeginFaceResponse, error) {
	if s.face == nil {
		return nil, notSupported(CapabilityFaceVerification)
	}
	fs, err := s.face.BeginFace(ctx, FaceRequest{
		Name:      req.GetName(),
		IDNumber:  req.GetIdNumber(),
		Subject:   req.GetSubject(),
		ReturnURL: req.GetReturnUrl(),
	})
	if err != nil {
		return nil, err
	}
	return &pb.BeginFaceResponse{CertifyId: fs.CertifyID, QrContent: fs.QRContent, ExpiresAt: timestamp(fs.ExpiresAt)}, nil
}

func (s *server) QueryFace(ctx context.Context, req *pb.QueryFaceRequest) (*pb.QueryFaceResponse, error) {
	if s.face == nil {
		return nil, notSupported(CapabilityFaceVerification)
	}
	fs, err := s.face.QueryFace(ctx, req.GetCertifyId())
	if err != nil {
		return nil, err
	}
	return &pb.QueryFaceResponse{
		Result:     pb.QueryFaceResponse_Result(fs.Result),
		Reason:     pb.ErrorKind(fs.Reason),
		VendorCode: fs.VendorCode,
		Reference:  fs.Reference,
	}, nil
}

func (s *server) SendCode(ctx context.Context, req *pb.SendCodeRequest) (*pb.SendCodeResponse, error) {
	if s.phone == nil {
		return nil, notSupported(CapabilityPhone)
	}
	t, err := s.phone.SendCode(ctx, req.GetPhone(), req.GetPurpose())
	if err != nil {
		return nil, err
	}
	return &pb.SendCodeResponse{Ticket: t.Ticket, ExpiresAt: timestamp(t.ExpiresAt)}, nil
}

func (s *server) VerifyCode(ctx context.Context, req *pb.VerifyCodeRequest) (*pb.VerifyCodeResponse, error) {
	if s.phone == nil {
		return nil, notSupported(CapabilityPhone)
	}
	if err := s.phone.VerifyCode(ctx, req.GetTicket(), req.GetPhone(), req.GetPurpose(), req.GetCode()); err != nil {
		return nil, err
	}
	return &pb.VerifyCodeResponse{}, nil
}

func (s *server) CheckOwner(ctx context.Context, req *pb.CheckOwnerRequest) (*pb.CheckOwnerResponse, error) {
	if s.owner == nil {
		return nil, notSupported(CapabilityPhoneOwner)
	}
	if err := s.owner.CheckOwner(ctx, req.GetPhone(), req.GetName(), req.GetIdNumber()); err != nil {
		return nil, err
	}
	return &pb.CheckOwnerResponse{}, nil
}

func (s *server) SendNotice(ctx context.Context, req *pb.SendNoticeRequest) (*pb.SendNoticeResponse, error) {
	if s.notice == nil {
		return nil, notSupported(CapabilityPhoneNotice)
	}
	if err := s.notice.SendNotice(ctx, req.GetPhone(), Notice{Kind: req.GetKind(), Params: req.GetParams()}); err != nil {
		return nil, err
	}
	return &pb.SendNoticeResponse{}, nil
}

var (
	_ pb.ProviderServer         = (*server)(nil)
	_ pb.ScanLoginServer        = (*server)(nil)
	_ pb.IdentityCheckServer    = (*server)(nil)
	_ pb.FaceVerificationServer = (*server)(nil)
	_ pb.PhoneServer            = (*server)(nil)
)
