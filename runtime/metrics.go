package runtime

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// ScopeName is the OpenTelemetry instrumentation scope of the Conn's metrics.
const ScopeName = "github.com/lazyclient/lazyclient/runtime"

// Metric names, as documented in the README.
const (
	MetricActiveCalls = "lazyclient.client.active_calls"
	MetricDials       = "lazyclient.client.dials"
	MetricDrops       = "lazyclient.client.drops"
)

type metrics struct {
	activeCalls metric.Int64UpDownCounter
	dials       metric.Int64Counter
	drops       metric.Int64Counter
	targetAttrs metric.AddOption
}

func newMetrics(mp metric.MeterProvider, target string) (*metrics, error) {
	meter := mp.Meter(ScopeName)
	var m metrics
	var err error
	if m.activeCalls, err = meter.Int64UpDownCounter(MetricActiveCalls,
		metric.WithDescription("Calls in flight: unary calls not yet returned and streams not yet finished."),
		metric.WithUnit("{call}")); err != nil {
		return nil, err
	}
	if m.dials, err = meter.Int64Counter(MetricDials,
		metric.WithDescription("Connection attempts the channel reported."),
		metric.WithUnit("{dial}")); err != nil {
		return nil, err
	}
	if m.drops, err = meter.Int64Counter(MetricDrops,
		metric.WithDescription("READY connections lost for any reason but the idle timeout and Close."),
		metric.WithUnit("{drop}")); err != nil {
		return nil, err
	}
	m.targetAttrs = metric.WithAttributeSet(attribute.NewSet(attribute.String("lazyclient.target", target)))
	return &m, nil
}

// transition records a state transition, counted as in the Conn's Stats.
func (m *metrics) transition(dialed, dropped bool) {
	ctx := context.Background()
	if dialed {
		m.dials.Add(ctx, 1, m.targetAttrs)
	}
	if dropped {
		m.drops.Add(ctx, 1, m.targetAttrs)
	}
}
