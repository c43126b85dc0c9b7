package app

import (
	"context"
	"crypto/rand"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestBrokerRetention: the embedded broker removes what is past its retention, by size and by
// age, from its offsets and from its disk, while it runs and when it starts again on an old log.
func TestBrokerRetention(t *testing.T) {
	dir := t.TempDir()
	cfg := BrokerConfig{Addr: freeAddr(t), Dir: dir,
		Retention: TopicRetention{Time: time.Hour, Bytes: 1 << 20, Check: 50 * time.Millisecond}}
	b, err := startBroker(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { b.Close() }()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.ListenAddrs()...), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}

	// 8 MiB in 64 KiB records, each its own batch: eight times the retention. Random, so that
	// the producer's compression keeps their size.
	value := make([]byte, 64<<10)
	for range 128 {
		rand.Read(value)
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: value}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	start := func() int64 {
		t.Helper()
		offs, err := adm.ListStartOffsets(ctx, "t")
		if err != nil {
			t.Fatal(err)
		}
		o, _ := offs.Lookup("t", 0)
		return o.Offset
	}
	// 1 MiB kept, in segments of 1 MiB (the floor): the partly kept segment and the active one.
	// A pass may have run while the records were produced; the next one, within 50ms, keeps 1 MiB.
	deadline := time.Now().Add(5 * time.Second)
	for 128-start() > 16 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if kept := 128 - start(); kept > 16 {
		t.Errorf("%d records of 64 KiB kept, want at most 1 MiB's worth (16)", kept)
	}
	if size := dirSize(t, filepath.Join(dir, "partitions")); size > 2<<20+64<<10 {
		t.Errorf("the partition's files hold %d bytes, want at most two 1 MiB segments", size)
	}

	// By age, applied at start to what the last run left: everything is older than a millisecond.
	b.Close()
	cfg.Retention.Time = time.Millisecond
	cfg.Retention.Check = time.Hour
	if b, err = startBroker(cfg); err != nil {
		t.Fatal(err)
	}
	cl2, err := kgo.NewClient(kgo.SeedBrokers(b.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	adm = kadm.NewClient(cl2)
	if got := start(); got != 128 {
		t.Errorf("after a restart with a retention of 1ms the log starts at %d, want 128 (all removed)", got)
	}
}

func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		n += info.Size()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTopicRetentionFlags: dev and broker take the retention as flags or environment, sizes in
// bytes or binary units, and refuse a retention the inboxes would not outlast.
func TestTopicRetentionFlags(t *testing.T) {
	env := map[string]string{"ORDERSYS_TOPIC_RETENTION_BYTES": "16MiB"}
	cfg, _, err := parseDev([]string{"--topic-retention", "2h"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := (TopicRetention{Time: 2 * time.Hour, Bytes: 16 << 20, Check: DefaultTopicRetentionCheck}); cfg.TopicRetention != want {
		t.Errorf("parsed %+v, want %+v", cfg.TopicRetention, want)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--topic-retention", "200h"}, "at most 168h0m0s"},
		{[]string{"--topic-retention-bytes", "100KiB"}, "at least 1 MiB"},
		{[]string{"--topic-retention-bytes", "12 potatoes"}, "ErrUsage"},
		{[]string{"--topic-retention-check", "-1s"}, "must not be negative"},
	} {
		_, _, err := parseDev(c.args, func(string) string { return "" }, io.Discard)
		if c.want == "ErrUsage" {
			if err != ErrUsage {
				t.Errorf("dev %q: %v, want a usage error", c.args, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("dev %q: %v, want it to say %q", c.args, err, c.want)
		}
		if err := runBroker(t.Context(), c.args, func(string) string { return "" }, io.Discard, io.Discard); err == nil {
			t.Errorf("broker %q was accepted", c.args)
		}
	}
	var s sizeValue
	for in, want := range map[string]int64{"67108864": 64 << 20, "64MiB": 64 << 20, "512KiB": 512 << 10, "1GiB": 1 << 30, "10B": 10} {
		if err := s.Set(in); err != nil || int64(s) != want {
			t.Errorf("size %q = %d, %v; want %d", in, s, err, want)
		}
	}
	if s = 64 << 20; s.String() != "64MiB" {
		t.Errorf("64 MiB prints as %q", s.String())
	}
}
