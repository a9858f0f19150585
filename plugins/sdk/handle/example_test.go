package handle_test

import (
	"fmt"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk/handle"
)

// A plugin seals what PollScan will need into the uuid BeginScan returns,
// and opens it on the next call, whichever replica's plugin gets it.
func ExampleSealer() {
	handleKey := make([]byte, 32) // the configuration's handle_key
	s, err := handle.NewSealer(handleKey, "acme handle v1")
	if err != nil {
		panic(err)
	}

	type scan struct {
		Session string `json:"s"` // the vendor's session id
		Expires int64  `json:"e"`
	}
	expires := time.Date(2026, 3, 1, 9, 5, 0, 0, time.UTC).Unix()
	uuid, err := s.Seal("scan", "app-1", scan{Session: "vendor-session-42", Expires: expires})
	if err != nil {
		panic(err)
	}

	var h scan
	fmt.Println(s.Open("scan", "app-1", uuid, &h), h.Session)
	fmt.Println(s.Open("scan", "app-2", uuid, &h)) // another app's configuration: UUIDInvalid
	fmt.Println(s.Open("face", "app-1", uuid, &h)) // not a certify id
	// Output:
	// true vendor-session-42
	// false
	// false
}
