package runner

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/internal/chaos/scenario"
)

// BenchmarkSustainedRate measures the messages per second the runner
// drives end to end through the embedded broker with no fault: planned far
// above what it can do, so the senders never wait for the schedule.
//
//	go test -run '^$' -bench SustainedRate -benchtime 1x ./internal/chaos/runner
func BenchmarkSustainedRate(b *testing.B) {
	for _, kind := range []string{scenario.Cast, scenario.Call, scenario.Notify} {
		consumers := "servers: {count: 4, threads: 16, prefetch: 200}"
		if kind == scenario.Notify {
			consumers = "listeners: {count: 2, threads: 8, prefetch: 500, batch: {size: 100, timeout: 50ms}}"
		}
		src := fmt.Sprintf("name: rate\nduration: 5s\ndrain: 60s\nworkload:\n  - {kind: %s, rate: 20000, concurrency: 128, size: 256, %s}\n", kind, consumers)
		s, err := scenario.Parse("rate.yaml", []byte(src))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(kind, func(b *testing.B) {
			var processed int64
			var took time.Duration
			for i := 0; i < b.N; i++ {
				res, err := Run(context.Background(), s, Config{})
				if err != nil {
					b.Fatal(err)
				}
				if !res.Verdict.Holds {
					b.Fatalf("invariants failed: %+v", res.Verdict.Results)
				}
				processed += res.Verdict.Counts.Processed
				// Until the last message was processed.
				if n := len(res.Record.Deliveries); n > 0 {
					took += res.Record.Deliveries[n-1].At
				}
			}
			b.ReportMetric(float64(processed)/took.Seconds(), "msgs/s")
		})
	}
}
