package harness

import "github.com/shiming-id/shiming/contrib/sandbox/sandboxclient"

// Sandbox returns a client of the embedded sandbox's test API: the
// virtual phone's JSON endpoints, the SMS inboxes and fault injection.
func (s *Server) Sandbox() *sandboxclient.Client {
	return &sandboxclient.Client{URL: s.SandboxURL, HTTP: s.HTTP}
}
