package phone

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/citizens"
	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

// Holder names the person holding the phone, as a test or a form gives
// it: a registered citizen by key or ID number, or a synthetic person by
// name, ID number and (optionally) phone.
type Holder struct {
	Citizen  string `json:"citizen,omitempty"` // key (c001) or ID number of a registered citizen
	Name     string `json:"name,omitempty"`
	IDNumber string `json:"id_number,omitempty"`
	Phone    string `json:"phone,omitempty"`
}

// Errors of ResolveHolder.
var (
	ErrNoHolder       = errors.New("phone: no citizen given")
	ErrUnknownCitizen = errors.New("phone: unknown citizen")
	ErrBadHolder      = errors.New("phone: invalid synthetic person")
)

// IsZero reports whether no person is named at all.
func (h Holder) IsZero() bool {
	return strings.TrimSpace(h.Citizen) == "" && strings.TrimSpace(h.IDNumber) == ""
}

// ResolveHolder finds the person a Holder names. A registered ID number
// always means the registered citizen, whatever name is given; an
// unregistered valid number with a name makes a synthetic citizen.
func ResolveHolder(reg *citizens.Registry, now time.Time, h Holder) (citizens.Citizen, error) {
	if key := strings.TrimSpace(h.Citizen); key != "" {
		if c, ok := reg.ByKey(key); ok {
			return c, nil
		}
		if c, ok := reg.ByIDNumber(key); ok {
			return c, nil
		}
		return citizens.Citizen{}, ErrUnknownCitizen
	}
	id := cnid.Normalize(strings.TrimSpace(h.IDNumber))
	if id == "" {
		return citizens.Citizen{}, ErrNoHolder
	}
	if c, ok := reg.ByIDNumber(id); ok {
		return c, nil
	}
	phone := strings.TrimSpace(h.Phone)
	if phone != "" && !cnid.ValidPhone(phone) {
		return citizens.Citizen{}, fmt.Errorf("%w: phone is not a mainland mobile number", ErrBadHolder)
	}
	c, ok := reg.Resolve(strings.TrimSpace(h.Name), id, phone, now)
	if !ok {
		return citizens.Citizen{}, fmt.Errorf("%w: a valid ID number and a name are required", ErrBadHolder)
	}
	return c, nil
}
