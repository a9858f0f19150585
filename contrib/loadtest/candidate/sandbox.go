package candidate

import (
	"context"

	"github.com/shiming-id/shiming/contrib/sandbox/sandboxclient"
)

// Faults every candidate can be given.
var (
	// FaultCodeReused: WeChat answers the code exchange with 40163 (code
	// been used), as when a phone or a second tab used it first.
	FaultCodeReused = sandboxclient.Fault{Vendor: "wechat", Path: "/sns/oauth2/access_token", Code: "40163", Count: 1}
	// FaultStaleQR: WeChat's long poll says the QR expired (402).
	FaultStaleQR = sandboxclient.Fault{Vendor: "wechat", Path: "/connect/l/qrconnect", Code: "402", Count: 1}
)

// RegistryPeople returns the people of the sandbox's registry. Those
// whose registry name differs from their card fail a name/ID check with
// their card name.
func RegistryPeople(ctx context.Context, sb *sandboxclient.Client) ([]Person, error) {
	citizens, err := sb.Citizens(ctx)
	if err != nil {
		return nil, err
	}
	people := make([]Person, 0, len(citizens))
	for _, c := range citizens {
		p := Person{Citizen: c.Key, Name: c.Name, IDNumber: c.IDNumber, Phone: c.Phone}
		if c.RegistryName != "" && c.RegistryName != c.Name {
			p.RegistryName = c.RegistryName
		}
		people = append(people, p)
	}
	return people, nil
}

// holder names p to the phone: a registry citizen by key, anyone else by
// name, ID number and phone.
func (p Person) holder() sandboxclient.Holder {
	if p.Citizen != "" {
		return sandboxclient.Holder{Citizen: p.Citizen}
	}
	return sandboxclient.Holder{Name: p.Name, IDNumber: p.IDNumber, Phone: p.Phone}
}

// act does what the candidate's person does on the phone with the QR
// content qr: action is scan, confirm, read (CTID's card read), pass,
// fail or cancel. It returns the link the phone's browser opens next, if
// any (Alipay sends it to the gateway's callback).
func (c *Candidate) act(ctx context.Context, qr, action string) (redirect string, err error) {
	res, err := c.env.Sandbox.Perform(ctx, sandboxclient.ActRequest{QR: qr, Action: action, Holder: c.Person.holder()})
	return res.Outcome.Redirect, err
}
