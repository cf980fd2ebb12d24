package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
)

// Source gives a fresh Snapshot for each request; *Fetcher is one.
type Source interface {
	Fetch(ctx context.Context) *Snapshot
}

// Handler serves the operations views of src:
//
//	/             the status page (HTML, refreshes itself every 30s)
//	/status.json  the Snapshot as JSON
//	/widget       a small HTML card to embed in an iframe
//	/metrics      Prometheus text format 0.0.4
//
// Only GET and HEAD are allowed. When the daemon cannot be read, the HTML
// and JSON views answer 503 and say so; /metrics answers 200 with
// jawnvault_up 0, as Prometheus exporters do.
func Handler(src Source) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		s := src.Fetch(r.Context())
		render(w, r, "text/html; charset=utf-8", statusCode(s), func(b *bytes.Buffer) error {
			return pageTmpl.Execute(b, newView(s))
		})
	})
	mux.HandleFunc("/widget", func(w http.ResponseWriter, r *http.Request) {
		s := src.Fetch(r.Context())
		render(w, r, "text/html; charset=utf-8", statusCode(s), func(b *bytes.Buffer) error {
			return widgetTmpl.Execute(b, newView(s))
		})
	})
	mux.HandleFunc("/status.json", func(w http.ResponseWriter, r *http.Request) {
		s := src.Fetch(r.Context())
		render(w, r, "application/json", statusCode(s), func(b *bytes.Buffer) error {
			enc := json.NewEncoder(b)
			enc.SetIndent("", "  ")
			return enc.Encode(s)
		})
	})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		s := src.Fetch(r.Context())
		render(w, r, "text/plain; version=0.0.4; charset=utf-8", http.StatusOK, func(b *bytes.Buffer) error {
			writeMetrics(b, s)
			return nil
		})
	})
	return secure(mux)
}

func statusCode(s *Snapshot) int {
	if !s.Up {
		return http.StatusServiceUnavailable
	}
	return http.StatusOK
}

// render builds the whole body before writing, so a template error gives
// a clean 500 rather than half a page.
func render(w http.ResponseWriter, r *http.Request, ctype string, code int, fill func(*bytes.Buffer) error) {
	var b bytes.Buffer
	if err := fill(&b); err != nil {
		http.Error(w, "internal error rendering the view", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b.Bytes())
	}
}

// secure refuses every method but GET and HEAD and sets the security
// headers on every answer, errors included.
func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed: this view is read-only", http.StatusMethodNotAllowed)
			return
		}
		next.ServeHTTP(w, r)
	})
}
