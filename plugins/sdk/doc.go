// Package sdk is the contract identity-provider plugins are written
// against: the capability interfaces, the error kinds that survive the
// process boundary, and Serve, which runs a provider as a go-plugin
// process speaking shiming.provider.v1 over gRPC.
//
// A provider implements Provider and, for each capability it declares in
// Info, the matching interface:
//
//	CapabilityScanLogin        ScanLogin
//	CapabilityIdentityCheck    IdentityChecker
//	CapabilityFaceVerification FaceVerifier
//	CapabilityPhone            PhoneVerifier
//	CapabilityPhoneOwner       PhoneOwnerChecker
//	CapabilityPhoneNotice      PhoneNotifier
//
// Its main function calls Serve(provider) and nothing else; a plugin
// must never write to standard output, which carries the handshake, and
// logs through Logger. Errors cross the process boundary as a *Error
// whose Kind, VendorCode and Fields survive the wire.
//
// The host side is Client (and the go-plugin glue in Handshake,
// VersionedPlugins and GRPCPlugin); ServeTest runs a provider inside a
// test behind the same adapters. The conformance kit in providertest
// proves a provider in-process and over a real plugin process.
package sdk
