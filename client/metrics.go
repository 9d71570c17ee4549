package client

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/vise-edge/vise"
)

// Metric reads one sample from the server's /metrics, named as Prometheus
// prints it (`vise_results_total{outcome="stored"}`); a sample the server
// has not printed yet reads 0.
func (c *Client) Metric(ctx context.Context, sample string) (float64, error) {
	var buf bytes.Buffer
	if err := c.do(ctx, request{method: http.MethodGet, path: "/metrics"}, &buf); err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, vise.Errorf(vise.CodeInternal, "metric %s: %q is not a number", sample, v)
			}
			return f, nil
		}
	}
	return 0, sc.Err()
}
