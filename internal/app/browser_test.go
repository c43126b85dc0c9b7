package app

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser is a headless Chromium driven by chromedp, for the console's tests.
type browser struct {
	ctx   context.Context
	shots string // where screenshots go
}

// newBrowser starts Debian's Chromium headless. Without it the test is skipped, except under
// CI=true, where it is required (.ci/run installs it).
func newBrowser(t *testing.T) *browser {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("Chromium is required under CI=true: install Debian's chromium package (apt-get install chromium)")
		}
		t.Skip("Chromium not found: install Debian's chromium package (apt-get install chromium) to run the console's browser tests")
	}
	// These flags keep Chromium off the network it cannot reach here, and out of any profile.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start Chromium: %v", err)
	}
	// ORDERSYS_SCREENSHOTS=docs/img renews the README's pictures.
	shots := os.Getenv("ORDERSYS_SCREENSHOTS")
	if shots == "" {
		var err error
		if shots, err = os.MkdirTemp("", "ordersys-console-screenshots-"); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshots of the console pages: %s", shots)
	return &browser{ctx: ctx, shots: shots}
}

// do runs steps, failing the test, with the page's HTML, after timeout.
func (b *browser) do(t *testing.T, timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("browser: %v\npage: %s", err, b.html())
	}
}

// html is the page's body, shortened, for failure messages.
func (b *browser) html() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("body")))
	if len(html) > 4000 {
		html = html[:4000] + "..."
	}
	return html
}

// screenshot saves the page as name.png among the screenshots.
func (b *browser) screenshot(t *testing.T, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100 is PNG, less JPEG
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(b.shots, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitText waits until the text of the first element selector matches contains want.
func (b *browser) waitText(t *testing.T, selector, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var got string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(selector)))
		cancel()
		if got = strings.TrimSpace(s); err == nil && strings.Contains(got, want) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s says %q, want %q within %v\npage: %s", selector, got, want, timeout, b.html())
}

// count is how many elements selector matches now.
func (b *browser) count(t *testing.T, selector string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int]("document.querySelectorAll("+jsString(selector)+").length"))
	if err != nil {
		t.Fatalf("count %s: %v", selector, err)
	}
	return n
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
