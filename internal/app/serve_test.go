package app

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestServeFailsWhenAConsumerStops: a process whose consumer cannot run ends with an error
// instead of taking orders that nothing would carry through the saga. A session timeout that
// franz-go refuses (parseServe stops it earlier; StartServe is called directly here) is one way.
func TestServeFailsWhenAConsumerStops(t *testing.T) {
	broker, err := startBroker(BrokerConfig{Addr: freeAddr(t), Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	s, err := StartServe(t.Context(), ServeConfig{
		Services: []string{"notification"}, Addr: "127.0.0.1:0", DatabaseURL: "sqlite:" + t.TempDir(),
		Brokers: broker.ListenAddrs(), Partitions: 1, ReplicationFactor: 1, Migrate: true,
		SessionTimeout: 50 * time.Millisecond, Log: testLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err = s.Wait(ctx)
	if ctx.Err() != nil {
		t.Fatal("Wait still running 10s after the consumer failed to start")
	}
	if err == nil || !strings.Contains(err.Error(), "consumer notification") {
		t.Errorf("Wait = %v, want the notification consumer's failure", err)
	}
}
