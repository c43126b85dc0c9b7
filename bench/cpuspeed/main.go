// Command cpuspeed times the same piece of CPU work over and over on an otherwise idle machine,
// to show how much the machine's own speed varies from one moment to the next. On a shared
// virtual machine it can, and a load test's run-to-run spread is then partly the host's:
//
//	go run ./bench/cpuspeed -duration 90s
package main

import (
	"flag"
	"fmt"
	"slices"
	"time"
)

func main() {
	duration := flag.Duration("duration", 90*time.Second, "how long to sample")
	every := flag.Duration("every", 400*time.Millisecond, "pause between samples")
	flag.Parse()

	var all []float64
	var window []float64
	windowStart := time.Now()
	start := windowStart
	fmt.Println("median ms per 5 s window (the same work each time):")
	for time.Since(start) < *duration {
		t := time.Now()
		sink += work()
		ms := float64(time.Since(t).Microseconds()) / 1000
		all, window = append(all, ms), append(window, ms)
		if time.Since(windowStart) >= 5*time.Second {
			fmt.Printf("  %3.0fs %.2f\n", time.Since(start).Seconds(), quantile(window, 0.5))
			window, windowStart = nil, time.Now()
		}
		time.Sleep(*every)
	}
	fmt.Printf("all %d samples: min %.2f, median %.2f, p90 %.2f, max %.2f ms\n",
		len(all), quantile(all, 0), quantile(all, 0.5), quantile(all, 0.9), quantile(all, 1))
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

func quantile(xs []float64, q float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))]
}
