package sdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

// registry is a provider with one capability, the identity check
// (二要素). A real one calls its vendor's API with the ctx it is given.
type registry struct {
	people map[string]string // ID number → name
}

func (r *registry) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "registry", Version: "0.1.0", Capabilities: []sdk.Capability{sdk.CapabilityIdentityCheck}}, nil
}

func (r *registry) Configure(_ context.Context, config json.RawMessage) error {
	var c struct {
		People map[string]string `json:"people"`
	}
	if err := json.Unmarshal(config, &c); err != nil || len(c.People) == 0 {
		return sdk.Fields(sdk.InvalidConfig, "people must list ID numbers and names", "people")
	}
	r.people = c.People
	return nil
}

func (r *registry) CheckIdentity(_ context.Context, name, idNumber string) (string, error) {
	if !cnid.Valid(idNumber) {
		return "", sdk.Fields(sdk.InvalidRequest, "malformed ID number", "id_number")
	}
	if r.people[idNumber] != name {
		return "", sdk.Vendor(sdk.NameIDMismatch, "E404", "name does not match "+cnid.MaskID(idNumber))
	}
	return "ref-" + idNumber[len(idNumber)-4:], nil
}

var _ sdk.IdentityChecker = (*registry)(nil)

// A provider's main function is one line:
//
//	func main() { sdk.Serve(&registry{}) }
//
// Here the provider is called directly, as the gateway calls it through
// the plugin: a mismatch comes back as a kind, never as a string to parse.
func Example() {
	ctx := context.Background()
	p := &registry{}
	err := p.Configure(ctx, json.RawMessage(`{"people":{"11010519491231002X":"张三"}}`))
	fmt.Println("configure:", err)

	ref, err := p.CheckIdentity(ctx, "张三", "11010519491231002X")
	fmt.Println("match:", ref, err)

	_, err = p.CheckIdentity(ctx, "李四", "11010519491231002X")
	fmt.Println("mismatch:", sdk.KindOf(err), sdk.VendorCodeOf(err))

	err = p.Configure(ctx, json.RawMessage(`{}`))
	var e *sdk.Error
	if errors.As(err, &e) {
		fmt.Println("bad config:", e.Kind, strings.Join(e.Fields, ","))
	}
	// Output:
	// configure: <nil>
	// match: ref-002X <nil>
	// mismatch: name_id_mismatch E404
	// bad config: invalid_config people
}
