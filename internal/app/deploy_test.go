package app

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// metricName matches the names of ordersys's metrics, of franz-go's and of Go's and the process's
// own, wherever a query names them.
var metricName = regexp.MustCompile(`\b(?:ordersys|go|process)_[a-z0-9_]+\b`)

// TestDeployNamesExportedMetrics: the Grafana dashboard and the alerting rules in deploy/ name only
// metrics that a running system exports (a renamed metric would leave a panel empty and an alert
// silent, with nothing to say so), and the rules pass `promtool check rules`.
func TestDeployNamesExportedMetrics(t *testing.T) {
	d := startDev(t)
	base := "http://" + d.Addr
	id := placeOrder(t, base, testOrder{lines: map[string]string{"SKU-1": "1"}}.body())
	waitStatus(t, base, id, "COMPLETED", 30*time.Second)
	exported := scrape(t, base+"/metrics")
	known := func(name string) bool {
		if exported[name] != nil {
			return true
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok {
				if f := exported[base]; f != nil && f.GetType() == dto.MetricType_HISTOGRAM {
					return true
				}
			}
		}
		return false
	}

	root := filepath.Join("..", "..", "deploy")
	for _, file := range []string{"grafana/ordersys.json", "prometheus/alerts.yml"} {
		text, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		names := slices.Compact(slices.Sorted(slices.Values(metricName.FindAllString(string(text), -1))))
		if len(names) == 0 {
			t.Errorf("%s names no metric", file)
		}
		for _, name := range names {
			if !known(name) {
				t.Errorf("%s names %s, which the running system does not export", file, name)
			}
		}
	}

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("ORDERSYS_REQUIRE_PROMTOOL") != "" {
			t.Fatal("promtool is required here (ORDERSYS_REQUIRE_PROMTOOL) and not on PATH: apt-get install prometheus")
		}
		t.Skip("promtool not on PATH (Debian's prometheus package has it); .ci/run installs it")
	}
	if out, err := exec.Command(promtool, "check", "rules", filepath.Join(root, "prometheus", "alerts.yml")).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
}
