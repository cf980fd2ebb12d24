package ops

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// view is a Snapshot prepared for the templates: times as text, relative
// to when it was fetched.
type view struct {
	*Snapshot
}

func newView(s *Snapshot) view { return view{s} }

// HitRatioText is the cache hit ratio as a percentage, or "n/a".
func (v view) HitRatioText() string {
	r := v.HitRatio()
	if r < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f%%", r*100)
}

// AuditText is "healthy", "loading" or "UNHEALTHY".
func (v view) AuditText() string {
	switch {
	case v.Status == nil:
		return "unknown"
	case !v.Status.Audit.Healthy:
		return "UNHEALTHY"
	case v.Status.Audit.Loading:
		return "loading"
	}
	return "healthy"
}

// Ago formats t relative to the fetch: "3m ago", "in 2h", or "never".
func (v view) Ago(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "never"
	}
	return relative(t.Sub(v.FetchedAt))
}

// When is Ago for a time that is not a pointer.
func (v view) When(t time.Time) string { return v.Ago(&t) }

func relative(d time.Duration) string {
	future := d > 0
	if d < 0 {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		s = fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		s = fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%dh", int(d.Hours()))
	default:
		s = fmt.Sprintf("%dd", int(d.Hours()/24))
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

// Who says who last used a token: uid and unit.
func (v view) Who(t wire.TokenInfo) string {
	var parts []string
	if t.LastUID != nil {
		parts = append(parts, fmt.Sprintf("uid %d", *t.LastUID))
	}
	if t.LastUnit != "" {
		parts = append(parts, t.LastUnit)
	}
	if t.BindUID != nil {
		parts = append(parts, fmt.Sprintf("bound to uid %d", *t.BindUID))
	}
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, ", ")
}

// Client names the caller of an audit row.
func (v view) Client(e wire.AuditEntry) string {
	c := e.Client
	if c == "" {
		c = "(no token)"
	}
	if e.Unit != "" {
		c += " · " + e.Unit
	}
	return c
}

// RotationBad reports whether a rotation needs attention.
func (v view) RotationBad(r wire.RotationState) bool {
	return r.Failures > 0 || r.Permanent || (r.ExpiresAt != nil && !r.ExpiresAt.After(v.FetchedAt))
}

// LastErrorCode is the code part of a rotation's last error: the text
// before the first colon, at most 40 bytes, so a provider's long message
// (which could quote anything) stays off the page.
func (v view) LastErrorCode(r wire.RotationState) string {
	e := r.LastError
	if e == "" {
		return "—"
	}
	if i := strings.IndexAny(e, ": "); i > 0 {
		e = e[:i]
	}
	if len(e) > 40 {
		e = e[:40]
	}
	return e
}

const style = `
body{font:15px/1.4 system-ui,sans-serif;margin:0;padding:12px;background:#fafafa;color:#222;max-width:60em}
h1{font-size:1.3em;margin:0 0 8px}h2{font-size:1.05em;margin:18px 0 6px}
.ok{color:#146c2e}.bad{color:#b00020;font-weight:bold}.warn{color:#8a5a00}
table{border-collapse:collapse;width:100%;font-size:.92em}
td,th{text-align:left;padding:4px 6px;border-bottom:1px solid #ddd;vertical-align:top;word-break:break-word}
tr.denied{background:#fde7ea}tr.error{background:#fff4e0}
.card{border:1px solid #ccc;border-radius:8px;padding:8px 10px;background:#fff;display:inline-block}
small{color:#666}
`

var funcs = template.FuncMap{"style": func() template.CSS { return template.CSS(style) }}

var pageTmpl = template.Must(template.New("page").Funcs(funcs).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="30">
<meta name="referrer" content="no-referrer">
<title>Jawn Vault status</title>
<style>{{style}}</style></head><body>
<h1>Jawn Vault</h1>
{{if not .Up}}
<p class="bad" id="down">DAEMON DOWN: the vault daemon could not be read.</p>
<p><small>{{.Error}}</small></p>
{{else}}{{if not .Status}}
<p class="warn" id="no-status">The daemon is up, but this page may not read its status.</p>
<p><small>{{.Error}} — give the page's token the status grant: <code>vault-cli token create status-page --grant '**' -p status</code></small></p>
{{end}}{{with .Status}}
<section id="health"><h2>Health</h2>
<table>
<tr><th>Daemon</th><td class="ok">up</td><td><small>version {{.Version}}, protocol {{.Protocol}}, up {{.UptimeS}}s</small></td></tr>
<tr><th>Store</th>{{if .Store.OK}}<td class="ok">ok</td>{{else}}<td class="bad">FAILING</td>{{end}}<td><small>{{.Store.Kind}} {{.Store.Error}}</small></td></tr>
<tr><th>Audit</th><td class="{{if not .Audit.Healthy}}bad{{else if .Audit.Loading}}warn{{else}}ok{{end}}">{{$.AuditText}}</td><td><small>{{.Audit.Committed}} committed, {{.Audit.Failed}} failed, {{.Audit.QueueDepth}} queued</small></td></tr>
<tr><th>Traffic</th><td>{{.Requests}} requests</td><td><small>{{.Connections}} open connections</small></td></tr>
</table></section>
<section id="cache"><h2>Cache</h2>
<p>{{.Cache.Entries}} entries · hit ratio {{$.HitRatioText}} <small>({{.Cache.Hits}} hits, {{.Cache.Misses}} misses, TTL {{.Cache.TTLS}}s)</small></p>
</section>
{{end}}
<section id="clients"><h2>Clients ({{len .Tokens}})</h2>
{{if .TokensError}}<p class="warn">Tokens not readable: {{.TokensError}}</p>{{end}}
<table><tr><th>Name</th><th>Last used</th><th>Seen as</th><th>Expires</th></tr>
{{range .Tokens}}<tr><td>{{.Name}}</td><td>{{$.Ago .LastUsedAt}}</td><td>{{$.Who .}}</td><td>{{if .ExpiresAt}}{{$.Ago .ExpiresAt}}{{else}}never{{end}}</td></tr>
{{end}}</table></section>
<section id="recent"><h2>Recent access (last {{len .Recent}}{{with .Denials}}, <span class="bad">{{.}} denied</span>{{end}})</h2>
{{if .RecentError}}<p class="warn">Audit not readable: {{.RecentError}}</p>{{end}}
<table><tr><th>When</th><th>Client</th><th>Method</th><th>Path</th><th>Outcome</th></tr>
{{range .Recent}}<tr class="{{.Outcome}}"><td>{{$.When .Time}}</td><td>{{$.Client .}}</td><td>{{.Method}}</td><td>{{.Path}}</td><td>{{if eq .Outcome "denied"}}<span class="bad">✗ DENIED</span>{{else if eq .Outcome "error"}}<span class="warn">error</span>{{else}}ok{{end}}{{with .Code}} <small>{{.}}</small>{{end}}</td></tr>
{{end}}</table></section>
{{if .Denied}}<section id="denied"><h2 class="bad">Latest denials ({{len .Denied}})</h2>
<table><tr><th>When</th><th>Client</th><th>Method</th><th>Path</th><th>Why</th></tr>
{{range .Denied}}<tr class="denied"><td>{{$.When .Time}}</td><td>{{$.Client .}}</td><td>{{.Method}}</td><td>{{.Path}}</td><td><span class="bad">✗ DENIED</span> <small>{{.Code}} {{.Detail}}</small></td></tr>
{{end}}</table></section>{{end}}
<section id="rotation"><h2>Rotation ({{len .Rotations}})</h2>
{{if .Rotations}}<table><tr><th>Name</th><th>State</th><th>Last success</th><th>Next due</th><th>Expires</th><th>Failures</th><th>Last error</th></tr>
{{range .Rotations}}<tr{{if $.RotationBad .}} class="denied"{{end}}><td>{{.Name}}</td><td>{{.State}}{{if .Permanent}} <span class="bad">needs a person</span>{{end}}</td><td>{{$.Ago .LastSuccess}}</td><td>{{$.Ago .NextDue}}</td><td>{{$.Ago .ExpiresAt}}</td><td>{{.Failures}}</td><td>{{$.LastErrorCode .}}</td></tr>
{{end}}</table>{{else}}<p><small>No rotations configured.</small></p>{{end}}
</section>
{{end}}
<p><small>Read {{.FetchedAt.Format "2006-01-02 15:04:05 UTC"}} · refreshes every 30s · read-only</small></p>
</body></html>
`))

var widgetTmpl = template.Must(template.New("widget").Funcs(funcs).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="30">
<title>Jawn Vault</title>
<style>{{style}} body{padding:4px;background:transparent}</style></head><body>
<div class="card" id="widget"><b>Jawn Vault</b>
{{if not .Up}}<span class="bad">DOWN</span>
{{else if not .Status}}<span class="warn">● up, status not readable</span>
{{else}}{{if .Healthy}}<span class="ok">● healthy</span>{{else}}<span class="bad">● degraded</span>{{end}}<br>
<small>{{with .Status}}{{.Requests}} requests · {{.Tokens.Active}} tokens · cache {{$.HitRatioText}}{{end}}</small><br>
<small>{{with .Denials}}<span class="bad">{{.}} denied of last {{len $.Recent}}</span>{{else}}no recent denials{{end}}{{range .Rotations}}{{if $.RotationBad .}} · <span class="bad">rotation {{.Name}} failing</span>{{end}}{{end}}</small>
{{end}}</div>
</body></html>
`))
