package httpserver_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shiming-id/shiming/gateway/httpserver"
)

// The public listener's handler as the composition root wires it.
func Example() {
	logger := slog.New(slog.DiscardHandler)
	metrics, err := httpserver.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		panic(err)
	}
	crossOrigin, err := httpserver.CrossOrigin(httpserver.CrossOriginOptions{
		Rejections: metrics.CrossOriginRejections(),
		Logger:     logger,
	})
	if err != nil {
		panic(err)
	}
	assets, err := httpserver.NewAssets()
	if err != nil {
		panic(err)
	}

	router := httpserver.NewRouter()
	assets.Register(router)
	router.HandleFunc("POST /{portal}/login", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/"+r.PathValue("portal")+"/home", http.StatusSeeOther)
	})

	handler := httpserver.Chain(router,
		httpserver.RequestID(logger),
		metrics.Middleware,
		httpserver.AccessLog(logger),
		httpserver.Recover(logger),
		httpserver.SecurityHeaders(httpserver.SecurityOptions{HSTS: false}),
		crossOrigin,
	)

	for _, site := range []string{"same-origin", "cross-site"} {
		req := httptest.NewRequest("POST", "/hunanpea/login", nil)
		req.Header.Set("Sec-Fetch-Site", site)
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, req)
		fmt.Println(site, w.Code)
	}
	// Output:
	// same-origin 303
	// cross-site 403
}
