package sdk

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// The go-plugin handshake. The cookie only tells a person who runs a
// plugin binary by hand that it is not a program of its own; it is not a
// security measure (AutoMTLS and the SHA-256 in the gateway's config are).
const (
	MagicCookieKey   = "SHIMING_PLUGIN"
	MagicCookieValue = "0db34d532d2d6373ed6df1d481fd79241c9b232f120200a7fb9f19419fe761b8"
)

// PluginName is the name of the plugin set served and dispensed.
const PluginName = "provider"

// Handshake returns the go-plugin handshake shared by the gateway and
// every provider plugin. Protocol versions are negotiated through
// VersionedPlugins, so ProtocolVersion is left zero.
func Handshake() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		MagicCookieKey:   MagicCookieKey,
		MagicCookieValue: MagicCookieValue,
	}
}

// VersionedPlugins returns the plugin sets the host offers, keyed by
// protocol version. Version 1 is shiming.provider.v1; a v2 would be added
// beside it, never instead of it.
func VersionedPlugins() map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		ProtocolVersion: {PluginName: &GRPCPlugin{}},
	}
}

// GRPCPlugin is the go-plugin glue for shiming.provider.v1. On the plugin
// side Impl is the provider being served; on the host side Impl is nil
// and dispensing returns a *Client.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin

	// Impl is the provider served by GRPCServer.
	Impl Provider

	// srv is the prepared adapter; Serve builds it before the handshake so
	// that a broken provider fails with a log line, not a silent exit.
	srv *server
}

// GRPCServer registers the services of the provider's declared
// capabilities on s.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	srv := p.srv
	if srv == nil {
		ctx, cancel := context.WithTimeout(context.Background(), infoTimeout)
		defer cancel()
		var err error
		if srv, err = newServer(ctx, p.Impl, nil); err != nil {
			return err
		}
	}
	srv.register(s)
	return nil
}

// GRPCClient returns a *Client for the plugin behind c. Its Done channel
// closes when go-plugin sees the plugin process exit.
func (p *GRPCPlugin) GRPCClient(ctx context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	cl := NewClient(c)
	cl.done = ctx.Done()
	return cl, nil
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)
