package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// nodesMemory adds up the memory of every node.
func nodesMemory(ctx context.Context, httpc *http.Client, nodes []string) (heapStack, rss float64, err error) {
	for _, n := range nodes {
		hs, r, err := serverMemory(ctx, httpc, n)
		if err != nil {
			return 0, 0, err
		}
		heapStack, rss = heapStack+hs, rss+r
	}
	return heapStack, rss, nil
}

// serverMemory has the server collect its garbage and then reads its
// memory: the Go heap and stacks in use (what connections cost) and the
// resident set from /metrics.
func serverMemory(ctx context.Context, httpc *http.Client, server string) (heapStack, rss float64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, server+"/debug/gc", nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := httpc.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	var gc map[string]float64
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&gc) != nil {
		return 0, 0, fmt.Errorf("%s/debug/gc: HTTP %d (served to loopback clients only)", server, resp.StatusCode)
	}
	m, err := scrape(ctx, httpc, server)
	if err != nil {
		return 0, 0, err
	}
	return gc["heapInuse"] + gc["stackInuse"], m["process_resident_memory_bytes"], nil
}

func scrape(ctx context.Context, httpc *http.Client, server string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, server+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := httpc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s/metrics: HTTP %d (metrics are served to loopback clients only)", server, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s/metrics: %w", server, err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			switch {
			case m.GetGauge() != nil:
				out[name] = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				out[name] = m.GetCounter().GetValue()
			}
		}
	}
	return out, nil
}
