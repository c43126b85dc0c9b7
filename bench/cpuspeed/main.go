// Command cpuspeed times the same piece of CPU work over and over, to show how much the machine's
// own speed varies from one moment to the next. On a shared virtual machine it can, and a load
// test's run-to-run spread is then partly the host's:
//
//	go run ./bench/cpuspeed -duration 90s
//
// Each sample is timed twice: by the wall clock, and by the CPU time of the thread that ran it.
// The wall time also counts waiting for a core, the CPU time does not; but beside a load test the
// CPU time rises too (other processes' memory traffic slows the same work; docs/performance.md
// has the figures), so run it on an idle machine to see the host.
package main

import (
	"flag"
	"fmt"
	"runtime"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	duration := flag.Duration("duration", 90*time.Second, "how long to sample")
	every := flag.Duration("every", 400*time.Millisecond, "pause between samples")
	flag.Parse()
	runtime.LockOSThread() // the thread's CPU clock must be this goroutine's

	var wall, cpu, windowWall, windowCPU []float64
	start := time.Now()
	windowStart := start
	fmt.Println("median ms per 5 s window of the same work, by the wall clock and by CPU time:")
	for time.Since(start) < *duration {
		t, c := time.Now(), threadCPU()
		sink += work()
		w, u := float64(time.Since(t).Microseconds())/1000, float64((threadCPU()-c).Microseconds())/1000
		wall, cpu = append(wall, w), append(cpu, u)
		windowWall, windowCPU = append(windowWall, w), append(windowCPU, u)
		if time.Since(windowStart) >= 5*time.Second {
			fmt.Printf("  %3.0fs (%s) wall %.2f cpu %.2f\n", time.Since(start).Seconds(), time.Now().Format("15:04:05"),
				quantile(windowWall, 0.5), quantile(windowCPU, 0.5))
			windowWall, windowCPU, windowStart = nil, nil, time.Now()
		}
		time.Sleep(*every)
	}
	for _, s := range []struct {
		name string
		xs   []float64
	}{{"wall", wall}, {"cpu", cpu}} {
		fmt.Printf("%s, %d samples: min %.2f, median %.2f, p90 %.2f, max %.2f ms\n", s.name, len(s.xs),
			quantile(s.xs, 0), quantile(s.xs, 0.5), quantile(s.xs, 0.9), quantile(s.xs, 1))
	}
}

var sink uint64

// work is a few milliseconds of arithmetic and memory traffic, the same every time.
func work() uint64 {
	x := uint64(1)
	buf := make([]uint64, 1<<16)
	for range 3_000_000 {
		x = x*6364136223846793005 + 1442695040888963407
		buf[x&(1<<16-1)] += x
	}
	return x + buf[7]
}

func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		panic(err) // Linux has had this clock since 2.6.12
	}
	return time.Duration(ts.Nano())
}

func quantile(xs []float64, q float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))]
}
