package lineout

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/vise-edge/vise/verdict"
)

// webhook POSTs each verdict as JSON, retrying with backoff.
type webhook struct {
	url     string
	timeout time.Duration
	retries int
	backoff time.Duration
	client  *http.Client
}

func newWebhook(c Config) (*webhook, error) {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("outputs (%s): url %q: a webhook needs an http:// or https:// URL", c.Name, c.URL)
	}
	w := &webhook{url: c.URL, timeout: duration(c.Timeout, 2*time.Second), retries: 3, backoff: 100 * time.Millisecond, client: &http.Client{}}
	if c.Retries != nil {
		w.retries = max(*c.Retries, 0)
	}
	return w, nil
}

func (w *webhook) Send(ctx context.Context, v *verdict.Verdict) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	wait := w.backoff
	for attempt := 0; ; attempt++ {
		retry, err := w.post(ctx, body)
		if err == nil {
			return nil
		}
		if !retry || attempt >= w.retries || ctx.Err() != nil {
			return fmt.Errorf("webhook %s: %w (after %d attempts)", w.url, err, attempt+1)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
		wait *= 2
	}
}

// post makes one attempt; retry says whether another could succeed (a
// 4xx other than 429 will not).
func (w *webhook) post(ctx context.Context, body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.client.Do(req)
	if err != nil {
		return true, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		return false, nil
	}
	retry = resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests
	return retry, fmt.Errorf("answered %s", resp.Status)
}

func (w *webhook) Close() error { return nil }
