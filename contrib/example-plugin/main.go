// Command example-plugin is a complete third-party provider plugin: it
// connects Shiming to "Acme Identity", a fictional vendor offering scan
// login and face verification over an HTTP API. Copy it to start a
// plugin of your own.
//
// It is started by the gateway, never by hand:
//
//	go build -o acme-plugin ./contrib/example-plugin
//	sha256sum acme-plugin   # goes into the gateway's configuration
package main

import "github.com/shiming-id/shiming/plugins/sdk"

// version is what the plugin reports in Info; the gateway's configuration
// must expect the same. Set it at build time with
// -ldflags "-X main.version=1.2.3".
var version = "1.0.0"

func main() {
	// Nothing may write to standard output: it carries go-plugin's
	// handshake. Log through sdk.Logger, which writes JSON to standard
	// error for the gateway to collect.
	sdk.Serve(newProvider(sdk.Logger(), version))
}
