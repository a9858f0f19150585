package httpserver

import (
	"net/http"
)

// recorder wraps a ResponseWriter to learn the status and size of the
// response, and optionally to adjust headers just before they are sent.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	// beforeHeader, when set, runs once before the final header is sent.
	beforeHeader func(h http.Header)
}

func (rw *recorder) WriteHeader(code int) {
	if rw.status != 0 {
		// A superfluous call; let net/http log it.
		rw.ResponseWriter.WriteHeader(code)
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		// Informational responses (103 Early Hints) precede the final one.
		rw.ResponseWriter.WriteHeader(code)
		return
	}
	rw.status = code
	if rw.beforeHeader != nil {
		rw.beforeHeader(rw.Header())
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recorder) Write(p []byte) (int, error) {
	if rw.status == 0 {
		rw.WriteHeader(http.StatusOK)
	}
	n, err := rw.ResponseWriter.Write(p)
	rw.bytes += int64(n)
	return n, err
}

// Flush sends buffered data; it sends the header first if needed.
func (rw *recorder) Flush() {
	if rw.status == 0 {
		rw.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(rw.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

// wroteHeader reports whether the final header has been sent.
func (rw *recorder) wroteHeader() bool { return rw.status != 0 }

// statusOr returns the recorded status, or def when none was written.
func (rw *recorder) statusOr(def int) int {
	if rw.status == 0 {
		return def
	}
	return rw.status
}

var _ http.Flusher = (*recorder)(nil)
