// Package console is ordersys's operations console, served at /ui: server-rendered pages (html/
// template and htmx) of orders, dead letters, stock and the system's health.
//
// The console is a client of the HTTP API, like any other: its handlers call the services' APIs
// and render what they answer. Pages are public shells holding no data; the data comes in
// fragments their htmx requests load, carrying the admin token the browser keeps in
// sessionStorage as "Authorization: Bearer". The console forwards that header to every API call,
// so the API decides what the caller may see, and an answer of 401 or 403 renders the login
// prompt instead of data.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures the console.
type Config struct {
	// URLs are the base URLs ("http://host:port") of the services' APIs, by service name (order,
	// inventory, payment, fulfillment, notification). A missing or empty one is this process's own:
	// the address each request came in on.
	URLs map[string]string
	// Metrics are this process's own metrics, gathered in-process wherever --metrics-addr serves
	// them; other processes' are read from their GET /metrics.
	Metrics prometheus.Gatherer
	// Client calls the APIs (default: one with a 10 s timeout).
	Client *http.Client
	Log    *slog.Logger
	// Sampling of the System page's metrics: every SampleEvery (default 5 s), the last Keep
	// (default 10 min) kept, stopped IdleAfter (default 1 min) without a look at the page.
	SampleEvery, Keep, IdleAfter time.Duration
}

// Console is the console's HTTP handler, to be mounted at /ui/.
type Console struct {
	cfg     Config
	client  *http.Client
	log     *slog.Logger
	mux     *http.ServeMux
	tmpl    *template.Template
	assets  map[string]asset
	sampler *sampler
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/*.js static/*.css
var staticFS embed.FS

// asset is an embedded static file with its validator.
type asset struct {
	body  []byte
	ctype string
	etag  string
}

// New makes the console.
func New(cfg Config) (*Console, error) {
	c := &Console{cfg: cfg, client: cfg.Client, log: cfg.Log}
	if c.client == nil {
		c.client = &http.Client{Timeout: 10 * time.Second}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if c.assets, err = loadAssets(); err != nil {
		return nil, err
	}
	funcs := templateFuncs()
	funcs["asset"] = func(name string) (string, error) {
		a, ok := c.assets[name]
		if !ok {
			return "", errors.New("no static file " + name)
		}
		return "/ui/static/" + name + "?v=" + a.etag[1:9], nil // a new binary's files are fetched anew
	}
	if c.tmpl, err = template.New("console").Funcs(funcs).ParseFS(templateFS, "templates/*.html"); err != nil {
		return nil, err
	}
	c.sampler = newSampler(cfg, c.client, c.log)

	m := http.NewServeMux()
	m.HandleFunc("GET /ui/{$}", c.ordersPage)
	m.HandleFunc("GET /ui/orders", c.ordersPage)
	m.HandleFunc("GET /ui/orders/{id}", c.orderPage)
	m.HandleFunc("GET /ui/dlq", c.dlqPage)
	m.HandleFunc("GET /ui/inventory", c.inventoryPage)
	m.HandleFunc("GET /ui/system", c.systemPage)
	m.HandleFunc("GET /ui/static/{file}", c.static)

	m.HandleFunc("GET /ui/fragments/orders", c.ordersFragment)
	m.HandleFunc("GET /ui/fragments/orders/{id}", c.orderFragment)
	m.HandleFunc("POST /ui/fragments/orders/{id}/cancel", c.cancelOrder)
	m.HandleFunc("GET /ui/fragments/dlq", c.dlqFragment)
	m.HandleFunc("POST /ui/fragments/dlq/replay", c.replayDeadLetters)
	m.HandleFunc("POST /ui/fragments/dlq/discard", c.discardDeadLetter)
	m.HandleFunc("GET /ui/fragments/inventory", c.inventoryFragment)
	m.HandleFunc("POST /ui/fragments/inventory", c.setStock)
	m.HandleFunc("GET /ui/fragments/system", c.systemFragment)
	m.HandleFunc("/ui/", c.notFoundPage)
	c.mux = m
	return c, nil
}

// Close stops the metrics sampling, if it runs.
func (c *Console) Close() { c.sampler.stop() }

// contentSecurityPolicy allows the console's own files only: no inline script or style, no other
// origin. A token in sessionStorage is only as safe as the page's scripts.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	// Actions come from htmx only: a cross-site form cannot send HX-Request without a CORS
	// preflight, which nothing here answers. With --auth none the bearer token is no guard.
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Header.Get("HX-Request") != "true" {
		http.Error(w, "console actions are sent by its pages (HX-Request: true)", http.StatusForbidden)
		return
	}
	c.mux.ServeHTTP(w, r)
}

// loadAssets reads the embedded static files and their ETags.
func loadAssets() (map[string]asset, error) {
	assets := map[string]asset{}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ctype := mime.TypeByExtension(path.Ext(p))
		switch path.Ext(p) { // not left to the machine's mime.types
		case ".js":
			ctype = "text/javascript; charset=utf-8"
		case ".css":
			ctype = "text/css; charset=utf-8"
		}
		assets[path.Base(p)] = asset{body: body, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
		return nil
	})
	return assets, err
}

// static serves an embedded file. Pages name them with their hash (?v=), so a new binary's files
// are fetched anew; the ETag lets a browser revalidate cheaply.
func (c *Console) static(w http.ResponseWriter, r *http.Request) {
	a, ok := c.assets[r.PathValue("file")]
	if !ok {
		c.notFoundPage(w, r)
		return
	}
	w.Header().Set("Content-Type", a.ctype)
	w.Header().Set("ETag", a.etag)
	w.Header().Set("Cache-Control", "public, max-age=3600")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// render executes the template name into w with status; a template that fails is a 500, never
// half a page.
func (c *Console) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := c.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		c.log.Error("console template failed", "template", name, "err", err)
		http.Error(w, "the console could not render this page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// page is what every page's shell shows: its title and which entry of the navigation it is.
type page struct {
	Title, Nav string
	// Fragment is the URL of the fragment the page loads with htmx (with the caller's token).
	Fragment string
	Data     any
}

func (c *Console) notFoundPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, http.StatusNotFound, "notfound", page{Title: "Not found", Data: r.URL.Path})
}

// The ids an answer's HTML goes into when it is not where the request aimed: the whole page's
// content (the login prompt), or the message area above it (an action's error).
const (
	targetMain  = "#main"
	targetFlash = "#flash"
)

// loginView is the login prompt: why it is shown.
type loginView struct {
	Reason string
	Token  bool // the request carried a token (which the API refused)
}

// fail answers a fragment's request whose API call failed. A refusal (401, 403) replaces the
// whole page's content with the login prompt and shows no data; any other failure is a message,
// in the fragment's place or, for an action (inFlash), above the page's data, which stays.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error, inFlash bool) {
	if e, ok := refused(err); ok {
		v := loginView{Token: r.Header.Get("Authorization") != ""}
		switch {
		case !v.Token:
			v.Reason = "The API needs a token: sign in with an admin token (scope ordersys:admin)."
		case e.Status == http.StatusForbidden:
			v.Reason = "The API refused this token: it lacks the scope this needs (" + e.Problem.Detail + ")."
		default:
			v.Reason = "The API refused this token: " + e.Problem.Title
			if e.Problem.Detail != "" {
				v.Reason += " (" + e.Problem.Detail + ")"
			}
			v.Reason += "."
		}
		w.Header().Set("HX-Retarget", targetMain)
		w.Header().Set("HX-Reswap", "innerHTML")
		c.render(w, e.Status, "login", v)
		return
	}
	status := http.StatusBadGateway
	var e *apiError
	if errors.As(err, &e) && e.Status >= 400 && e.Status < 500 {
		status = e.Status // the caller's request was wrong: say so as the API did
	}
	if inFlash {
		w.Header().Set("HX-Retarget", targetFlash)
		w.Header().Set("HX-Reswap", "innerHTML")
	}
	c.render(w, status, "error", err.Error())
}
