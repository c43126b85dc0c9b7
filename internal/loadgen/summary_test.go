package loadgen

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestCommandPrintsSummary(t *testing.T) {
	fake := &fakeAPI{skus: 3, completeAfter: 50 * time.Millisecond}
	srv := fake.start(t)
	var stdout, stderr bytes.Buffer
	err := Command(t.Context(), []string{
		"--target", srv.URL, "--orders", "10", "--rate", "100", "--skus", "3", "--follow-timeout", "2s",
	}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("Command: %v\nstderr: %s", err, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"target rate         100 orders/s, 10 orders",
		"sent 10  accepted 10  completed 10  failed 0",
		"completed/s ",
		"first createdAt to last COMPLETED",
		"create latency      p50 ",
		"create→COMPLETED    p50 50.0",
		"failures            0",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	for _, p := range fake.problems {
		t.Error(p)
	}
}

func TestSummaryListsFailuresByCount(t *testing.T) {
	var b bytes.Buffer
	err := writeSummary(&b, Summary{
		Target: "http://x", Rate: 5, Duration: time.Second, Sent: 30, Accepted: 20, Failed: 13,
		Failures: sortedKinds(map[string]int64{"create: HTTP 503": 10, "not terminal": 1, "order FAILED: OUT_OF_STOCK": 2}),
	})
	if err != nil {
		t.Fatal(err)
	}
	out := b.String()
	i503 := strings.Index(out, "10  create: HTTP 503")
	iOOS := strings.Index(out, " 2  order FAILED: OUT_OF_STOCK")
	iNT := strings.Index(out, " 1  not terminal")
	if i503 < 0 || iOOS < i503 || iNT < iOOS {
		t.Errorf("failures not listed by count:\n%s", out)
	}
}
