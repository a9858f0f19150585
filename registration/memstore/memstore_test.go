package memstore

import (
	"testing"

	"github.com/shiming-id/shiming/registration"
	"github.com/shiming-id/shiming/registration/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) registration.Store { return New() })
}
