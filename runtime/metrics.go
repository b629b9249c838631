package runtime

import (
	"context"
	"strings"

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

// Metric attribute keys. The first two are those of grpc's own metrics (gRFC
// A66), so that the two can be joined.
const (
	AttrTarget = "grpc.target"
	AttrMethod = "grpc.method"     // "package.Service/Method", no leading slash
	AttrKind   = "lazyclient.kind" // "unary", "server_streaming", ...
)

// metrics holds the instruments of one Conn. A Conn without a MeterProvider
// has none, and pays nothing for them.
type metrics struct {
	activeCalls metric.Int64UpDownCounter
	dials       metric.Int64Counter
	drops       metric.Int64Counter
	target      attribute.KeyValue
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
		metric.WithDescription("Connections lost, for any reason but the idle timeout and Close."),
		metric.WithUnit("{drop}")); err != nil {
		return nil, err
	}
	m.target = attribute.String(AttrTarget, target)
	m.targetAttrs = metric.WithAttributeSet(attribute.NewSet(m.target))
	return &m, nil
}

// methodAttrs is computed once per bound method, so that a call allocates
// nothing for its metrics.
func (m *metrics) methodAttrs(d *MethodDesc) metric.AddOption {
	return metric.WithAttributeSet(attribute.NewSet(
		m.target,
		attribute.String(AttrMethod, strings.TrimPrefix(d.FullMethod, "/")),
		attribute.String(AttrKind, d.Kind.String()),
	))
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
