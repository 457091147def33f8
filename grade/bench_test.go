package grade_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/labhub/labhub/advantage"
	"github.com/labhub/labhub/grade"
	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/store"
)

// BenchmarkDeliver1000 queues a grade for each of 1,000 students of an LTI
// 1.3 activity and measures the time until the worker has delivered all of
// them to the platform double over AGS, with a cold token cache each time.
// It reports the token and score requests per round, and how the time
// splits between queueing (one transaction for the 1,000 grades and their
// outbox entries) and delivering.
//
//	go test -run '^$' -bench Deliver1000 -benchtime 5x ./grade
func BenchmarkDeliver1000(b *testing.B) {
	backends := map[string]func(testing.TB) *store.DB{"sqlite": func(t testing.TB) *store.DB { return testutil.SQLite(t) }}
	if testutil.Postgres(b) != nil {
		backends["postgres"] = func(t testing.TB) *store.DB { return testutil.Postgres(t) }
	}
	for name, open := range backends {
		for _, conc := range []int{1, 4, 16} {
			b.Run(fmt.Sprintf("%s/concurrency=%d", name, conc), func(b *testing.B) {
				benchDeliver(b, open(b), conc)
			})
		}
	}
}

func benchDeliver(b *testing.B, db *store.DB, concurrency int) {
	const n = 1000
	e := newEnv(b, db, nil)
	entries := make([]grade.Entry, n)
	var act uint
	for i := range entries {
		s := e.launch13(student(i), course101, lab1)
		act = s.Activity.ID
		entries[i] = grade.Entry{UserID: s.User.ID, Maximum: 10}
	}
	ctx := context.Background()
	tokens, scores := e.p.TokenRequests(), e.p.ScoreRequests()
	var queueing, delivering time.Duration
	b.ResetTimer()
	for round := 0; round < b.N; round++ {
		b.StopTimer()
		opts := e.opts
		opts.Concurrency = concurrency
		opts.Poll = 5 * time.Millisecond
		// A fresh service and token cache: every round pays for its token.
		opts.AGS = &advantage.AGS{Tokens: &advantage.Tokens{Keys: e.opts.AGS.Tokens.Keys}}
		svc := grade.New(db, opts)
		for i := range entries {
			v := float64((i + round) % 11)
			entries[i].Score = &v
		}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		b.StartTimer()
		t0 := time.Now()
		if _, err := svc.Set(ctx, act, entries, "bench", "bench"); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		go func() { defer close(done); svc.Run(runCtx) }()
		for {
			var pending int64
			if err := db.Model(&store.GradeDelivery{}).Where("state <> ?", store.DeliveryDelivered).
				Count(&pending).Error; err != nil {
				b.Fatal(err)
			}
			if pending == 0 {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		b.StopTimer()
		queueing += t1.Sub(t0)
		delivering += time.Since(t1)
		stop()
		<-done
	}
	b.ReportMetric(float64(queueing.Milliseconds())/float64(b.N), "queue-ms/op")
	b.ReportMetric(float64(delivering.Milliseconds())/float64(b.N), "deliver-ms/op")
	b.ReportMetric(float64(e.p.TokenRequests()-tokens)/float64(b.N), "token-requests/op")
	b.ReportMetric(float64(e.p.ScoreRequests()-scores)/float64(b.N), "score-requests/op")
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "grades/s")
}
