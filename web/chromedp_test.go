package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/vise-edge/vise"
)

// The labelling tests drive Debian's Chromium with chromedp (the
// hand-written client of browser_test.go serves the older tests).

// page is a Chromium tab driven by chromedp.
type page struct {
	t   *testing.T
	ctx context.Context
	url string
}

// newPage starts Debian's Chromium headless with a fresh profile (chromedp
// makes a temporary --user-data-dir and removes it, with any helper
// process left, when the test ends).
func newPage(t *testing.T, base string) *page {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("VISE_REQUIRE_BROWSER") != "" {
			t.Fatalf("VISE_REQUIRE_BROWSER is set but %s is missing", chromium)
		}
		t.Skipf("Chromium is not installed (%s); make test installs Debian's chromium", chromium)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true), chromedp.WindowSize(1280, 1000))
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first run starts the browser; it lives as long as this run's
	// context, so that one has no timeout.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return &page{t: t, ctx: ctx, url: base}
}

func (p *page) do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("browser: %v", err)
	}
}

func (p *page) eval(js string, out any) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](js))
	if err != nil {
		p.t.Fatalf("browser: %s: %v", js, err)
	}
	if err := json.Unmarshal(v, out); err != nil {
		p.t.Fatalf("browser: %s = %s: %v", js, v, err)
	}
}

// until waits for a JavaScript condition to hold, across page loads.
func (p *page) until(what, js string) {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+js+")"))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(50 * time.Millisecond) // polling the page: nothing to wait on
	}
	var status string
	p.eval(`document.getElementById("status") ? document.getElementById("status").textContent : document.title`, &status)
	p.t.Fatalf("waiting for %s (%s): not within 20s (last error %v); status line %q", what, js, last, status)
}

func (p *page) login(name, password string) {
	p.t.Helper()
	p.do(chromedp.Navigate(p.url+"/login?next=/labelling"),
		chromedp.SendKeys(chromedp.ID("user"), name), chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("login")))
	p.until("the labelling page", `location.pathname === "/labelling" && !!document.getElementById("labeller")`)
}

// at maps image pixels to the page's, where the mouse goes.
func (p *page) at(x, y float64) (float64, float64) {
	p.t.Helper()
	var r struct{ Left, Top, Width, Height float64 }
	p.eval(`(function(){var r=document.getElementById("boxes").getBoundingClientRect();return {left:r.left,top:r.top,width:r.width,height:r.height}})()`, &r)
	if r.Width == 0 {
		p.t.Fatal("the image has no size on the page")
	}
	return r.Left + x*r.Width/450, r.Top + y*r.Height/300
}

// drag presses the left button at one image point, moves in steps and
// lets go at another: real mouse events, as a hand makes them.
func (p *page) drag(x0, y0, x1, y1 float64) {
	p.t.Helper()
	ax, ay := p.at(x0, y0)
	bx, by := p.at(x1, y1)
	held := func(q *input.DispatchMouseEventParams) {
		q.Button, q.Buttons, q.ClickCount = input.MouseButtonLeft, 1, 1
	}
	steps := []chromedp.Action[chromedp.Void]{chromedp.MouseEvent(chromedp.MouseMoved, ax, ay), chromedp.MouseEvent(chromedp.MousePressed, ax, ay, held)}
	for i := 1; i <= 5; i++ {
		f := float64(i) / 5
		steps = append(steps, chromedp.MouseEvent(chromedp.MouseMoved, ax+(bx-ax)*f, ay+(by-ay)*f, held))
	}
	p.do(append(steps, chromedp.MouseEvent(chromedp.MouseReleased, bx, by, held))...)
}

func (p *page) key(k string) { p.t.Helper(); p.do(chromedp.KeyEvent(k)) }

// shown waits until the page shows image id (at its label version).
func (p *page) shown(id string) {
	p.t.Helper()
	p.until(id+" on show", fmt.Sprintf(`document.getElementById("labeller").dataset.loaded === %q && document.getElementById("photo").complete`, id))
}

func (p *page) boxes() []vise.LabelBox {
	p.t.Helper()
	var out []vise.LabelBox
	p.eval(`Array.from(document.querySelectorAll("#boxes rect.box")).map(function(r){return {x:+r.getAttribute("x"),y:+r.getAttribute("y"),width:+r.getAttribute("width"),height:+r.getAttribute("height")}})`, &out)
	return out
}

func (p *page) screenshot(name string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	dir := os.Getenv("VISE_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "vise-screenshots")
	}
	os.MkdirAll(dir, 0o755)
	path := filepath.Join(dir, name+".png")
	if err == nil {
		err = os.WriteFile(path, png, 0o644)
	}
	if err != nil || len(png) < 1000 {
		p.t.Errorf("screenshot %s: %d bytes, %v", path, len(png), err)
	}
	p.t.Logf("screenshot: %s", path)
}
