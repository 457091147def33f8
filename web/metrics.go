package web

import (
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/labhub/labhub/store"
)

// metrics are the hub's Prometheus metrics.
type metrics struct {
	reg      *prometheus.Registry
	launches *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry, db *store.DB) *metrics {
	m := &metrics{reg: reg}
	m.launches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "labhub_launches_total",
		Help: "LTI launches by LTI version and outcome (ok or the rejection code).",
	}, []string{"version", "outcome"})
	reg.MustRegister(m.launches)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if db != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "labhub_running_servers",
			Help: "Notebook servers recorded as running.",
		}, func() float64 {
			var n int64
			db.Model(&store.Server{}).Where("state = ?", store.StateRunning).Count(&n)
			return float64(n)
		}))
	}
	return m
}

func (m *metrics) handler() gin.HandlerFunc {
	return gin.WrapH(promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
}
