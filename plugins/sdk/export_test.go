package sdk

// DecodeStatusForTest exposes the client's error decoding to the tests.
var DecodeStatusForTest = statusToError
