package app

import (
	"context"
	"errors"
	"os/exec"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestRestartedReplicaResumesAtOnce kills the order service with SIGKILL and starts it again: it
// is a static member of its consumer group, so it takes its partitions back at once, and an order
// created right after the restart completes in seconds, not after the dead member's session (45 s
// here, franz-go's default) has expired.
func TestRestartedReplicaResumesAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts six processes")
	}
	const session = 45 * time.Second
	c := startCluster(t, session, nil)
	waitStatus(t, c.api, placeOrder(t, c.api, orderBody(uuid.NewString(), "SKU-1")), "COMPLETED", time.Minute)

	order := c.services["order"][0]
	order.crash(t)
	killed := time.Now()
	order.restart(t, serveReady)
	id := placeOrder(t, c.api, orderBody(uuid.NewString(), "SKU-1"))
	waitStatus(t, c.api, id, "COMPLETED", session/3)
	t.Logf("an order created after the restart completed %s after the kill", time.Since(killed).Round(time.Millisecond))
}

// TestDuplicateInstanceIDStopsTheFencedReplica: a second replica started with the first's
// instance id takes its place in the group; the first must say so and exit, not sit in the group
// consuming nothing while it answers creates.
func TestDuplicateInstanceIDStopsTheFencedReplica(t *testing.T) {
	if testing.Short() {
		t.Skip("starts seven processes")
	}
	c := startCluster(t, 6*time.Second, nil)
	waitStatus(t, c.api, placeOrder(t, c.api, orderBody(uuid.NewString(), "SKU-1")), "COMPLETED", time.Minute)
	first := c.services["payment"][0]
	startProcess(t, "payment twin", serveReady, first.args...)

	exited := make(chan error, 1)
	go func() { exited <- first.cmd.Wait() }()
	select {
	case err := <-exited:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() == 0 {
			t.Errorf("fenced replica exited with %v, want a failure", err)
		}
	case <-time.After(30 * time.Second):
		_ = first.cmd.Process.Kill()
		<-exited // the cleanup must not wait on the process too
		t.Fatal("the fenced replica is still running 30 s after its twin joined")
	}
	// The twin consumes in its place.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for _, id := range placeOrders(t, ctx, c.api, 5) {
		waitStatus(t, c.api, id, "COMPLETED", 30*time.Second)
	}
}

// TestStoppedReplicaHandsOverAtOnce: a replica stopped on purpose (scaled in) may not come back,
// so it leaves its groups although it is a static member, and the other replica takes its
// partitions at once rather than after its session (45 s) expires.
func TestStoppedReplicaHandsOverAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts seven processes")
	}
	const session = 45 * time.Second
	c := startCluster(t, session, map[string]int{"payment": 2})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for _, id := range placeOrders(t, ctx, c.api, 8) {
		waitStatus(t, c.api, id, "COMPLETED", time.Minute)
	}
	c.services["payment"][0].stop(t)
	stopped := time.Now()
	// Orders spread over every partition, so some are on those the stopped replica had.
	for _, id := range placeOrders(t, ctx, c.api, 20) {
		waitStatus(t, c.api, id, "COMPLETED", session/3)
	}
	t.Logf("20 orders completed %s after the stop", time.Since(stopped).Round(time.Millisecond))
}
