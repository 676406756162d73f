// Package insighttest starts the headless Chromium the dashboard's browser
// tests drive, with the flags this sandbox needs, so every such test runs
// (or skips) the same way.
package insighttest

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Chromium returns the path of Debian's chromium. Without it the test is
// skipped, unless CI is set: there the browser test must run.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed, and CI is set: the dashboard browser test must run in CI (apt-get install chromium)")
	}
	t.Skip("skipping the dashboard browser test: chromium is not installed (apt-get install chromium); set CI to make this a failure")
	return ""
}

// Browser starts headless Chromium with a fresh profile and returns its
// chromedp context, which closes when the test ends or after 90 seconds.
// Background networking and component updates are off: the machine has no
// network but loopback. Call it after starting the servers the page talks
// to: cleanups run last-in first-out, so the browser, and the event
// streams it holds open, close before those servers wait for them.
func Browser(t testing.TB) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(Chromium(t)),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1500, 1100),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	actx, cancelA := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA(); cancel() })
	return bctx
}
