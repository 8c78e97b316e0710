package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// nodesMemory adds up the memory of every node, read from their operator
// listeners (ops: base URLs).
func nodesMemory(ctx context.Context, httpc *http.Client, ops []string) (heapStack, rss float64, err error) {
	for _, n := range ops {
		hs, r, err := serverMemory(ctx, httpc, n)
		if err != nil {
			return 0, 0, err
		}
		heapStack, rss = heapStack+hs, rss+r
	}
	return heapStack, rss, nil
}

// serverMemory has a node collect its garbage and then reads its memory
// from its operator listener (ops): the Go heap and stacks in use (what
// connections cost) and the resident set from /metrics.
func serverMemory(ctx context.Context, httpc *http.Client, ops string) (heapStack, rss float64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ops+"/debug/gc", nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := httpc.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("read the memory of assentd at its operator listener %s: %w (is that the node's --ops-listen? give it with --ops)", ops, err)
	}
	defer resp.Body.Close()
	var gc map[string]float64
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&gc) != nil {
		return 0, 0, fmt.Errorf("%s/debug/gc: HTTP %d, not assentd's memory report (is %s the node's --ops-listen? give it with --ops)", ops, resp.StatusCode, ops)
	}
	m, err := scrape(ctx, httpc, ops)
	if err != nil {
		return 0, 0, err
	}
	return gc["heapInuse"] + gc["stackInuse"], m["process_resident_memory_bytes"], nil
}

func scrape(ctx context.Context, httpc *http.Client, ops string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ops+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := httpc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s/metrics: HTTP %d (is %s the node's --ops-listen? give it with --ops)", ops, resp.StatusCode, ops)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s/metrics: %w", ops, err)
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
