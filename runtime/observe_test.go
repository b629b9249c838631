package runtime_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/lazyclient/lazyclient/runtime"
	echov1 "github.com/lazyclient/lazyclient/testdata/gen/echo/v1"
	"github.com/lazyclient/lazyclient/testdata/gen/echo/v1/echov1lazy"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/grpc/connectivity"
)

// recorder is a slog.Handler that keeps the records it is given.
type recorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec.Clone())
	return nil
}

// transitions returns the state-change records as maps of their attributes.
func (r *recorder) transitions() []map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]string
	for _, rec := range r.records {
		if rec.Message != "lazyclient: connectivity state changed" {
			continue
		}
		m := map[string]string{}
		rec.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
		out = append(out, m)
	}
	return out
}

func TestTransitionsAreLogged(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	var rec recorder
	conn := newConn(t, srv.addr, &dialCounter{}, runtime.WithLogger(slog.New(&rec)))
	if err := conn.Connect(testContext(t)); err != nil {
		t.Fatal(err)
	}
	srv.restart(false)
	waitForState(t, conn, connectivity.Idle)
	waitUntil(t, "the drop is logged", func() bool {
		tr := rec.transitions()
		return tr[len(tr)-1]["to"] == "IDLE"
	})
	conn.Close()

	tr := rec.transitions()
	first, last := tr[0], tr[len(tr)-1]
	if first["from"] != "IDLE" || first["cause"] != "connect" || first["target"] != srv.addr || first["active"] != "0" {
		t.Errorf("first transition = %v, want from IDLE, cause connect, target %s, active 0", first, srv.addr)
	}
	var sawReady, sawDrop bool
	for _, r := range tr {
		switch {
		case r["to"] == "READY":
			sawReady = true
		case r["from"] == "READY" && r["to"] == "IDLE":
			sawDrop = r["cause"] == "connection lost"
		}
	}
	if !sawReady || !sawDrop {
		t.Errorf("transitions %v: want one to READY and a drop to IDLE with cause \"connection lost\"", tr)
	}
	if last["from"] != "IDLE" || last["to"] != "SHUTDOWN" || last["cause"] != "close" {
		t.Errorf("last transition = %v, want IDLE to SHUTDOWN, cause close", last)
	}
}

func TestIdleTimeoutIsLoggedAsSuch(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	var rec recorder
	conn := newConn(t, srv.addr, &dialCounter{}, runtime.WithLogger(slog.New(&rec)), runtime.WithIdleTimeout(500*time.Millisecond))
	if err := conn.Connect(testContext(t)); err != nil {
		t.Fatal(err)
	}
	waitForState(t, conn, connectivity.Idle)
	waitUntil(t, "the idle timeout is logged", func() bool {
		tr := rec.transitions()
		return tr[len(tr)-1]["to"] == "IDLE"
	})
	tr := rec.transitions()
	if last := tr[len(tr)-1]; last["from"] != "READY" || last["cause"] != "idle timeout" {
		t.Errorf("last transition = %v, want READY to IDLE, cause idle timeout", last)
	}
	if d := conn.Stats().Drops; d != 0 {
		t.Errorf("Drops = %d, want 0", d)
	}
}

// metricsOf collects reader's metrics by name.
func metricsOf(t *testing.T, reader *sdkmetric.ManualReader) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != runtime.ScopeName {
			t.Errorf("scope %q, want %q", sm.Scope.Name, runtime.ScopeName)
		}
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// sumOf returns the value of the sum m's data point whose attributes include
// want, and how many data points matched.
func sumOf(t *testing.T, m metricdata.Metrics, want ...attribute.KeyValue) (int64, int) {
	t.Helper()
	sum, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s is a %T, want an int64 sum", m.Name, m.Data)
	}
	var v int64
	var n int
	for _, dp := range sum.DataPoints {
		match := true
		for _, kv := range want {
			if got, ok := dp.Attributes.Value(kv.Key); !ok || got != kv.Value {
				match = false
			}
		}
		if match {
			v += dp.Value
			n++
		}
	}
	return v, n
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	conn := newConn(t, srv.addr, &dialCounter{}, runtime.WithMeterProvider(mp))
	client := echov1lazy.NewEchoServiceClient(conn)
	ctx := testContext(t)

	if _, err := client.Echo(ctx, &echov1.EchoRequest{}); err != nil {
		t.Fatal(err)
	}
	bidi, err := client.Bidi(ctx)
	if err != nil {
		t.Fatal(err)
	}
	target := attribute.String(runtime.AttrTarget, srv.addr)
	bidiAttrs := []attribute.KeyValue{target,
		attribute.String(runtime.AttrMethod, "echo.v1.EchoService/Bidi"),
		attribute.String(runtime.AttrKind, "bidi_streaming")}
	echoAttrs := []attribute.KeyValue{target,
		attribute.String(runtime.AttrMethod, "echo.v1.EchoService/Echo"),
		attribute.String(runtime.AttrKind, "unary")}

	m := metricsOf(t, reader)
	active := m[runtime.MetricActiveCalls]
	if active.Unit != "{call}" {
		t.Errorf("%s unit = %q, want {call}", active.Name, active.Unit)
	}
	if sum, ok := active.Data.(metricdata.Sum[int64]); !ok || sum.IsMonotonic {
		t.Errorf("%s is %T (monotonic %v), want a non-monotonic sum", active.Name, active.Data, ok && sum.IsMonotonic)
	}
	if v, n := sumOf(t, active, bidiAttrs...); v != 1 || n != 1 {
		t.Errorf("active Bidi calls = %d (%d points), want 1", v, n)
	}
	if v, n := sumOf(t, active, echoAttrs...); v != 0 || n != 1 {
		t.Errorf("active Echo calls = %d (%d points), want 0", v, n)
	}
	if v, _ := sumOf(t, m[runtime.MetricDials], target); v != 1 {
		t.Errorf("dials = %d, want 1", v)
	}

	waitUntil(t, "the server is handling the stream", func() bool { return srv.handling.Load() == 1 })
	srv.restart(false)
	if _, err := bidi.Recv(); err == nil {
		t.Fatal("Bidi Recv after the drop succeeded")
	}
	waitUntil(t, "the drop is seen", func() bool { return conn.Stats().Drops == 1 })
	m = metricsOf(t, reader)
	if v, _ := sumOf(t, m[runtime.MetricActiveCalls], bidiAttrs...); v != 0 {
		t.Errorf("active Bidi calls after the drop = %d, want 0", v)
	}
	if v, _ := sumOf(t, m[runtime.MetricDrops], target); v != 1 {
		t.Errorf("drops = %d, want 1", v)
	}
	if u := m[runtime.MetricDials].Unit; u != "{dial}" {
		t.Errorf("dials unit = %q, want {dial}", u)
	}
	if u := m[runtime.MetricDrops].Unit; u != "{drop}" {
		t.Errorf("drops unit = %q, want {drop}", u)
	}
}

// Stats counts by method, and its state is the one last seen.
func TestStats(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	conn := newConn(t, srv.addr, &dialCounter{})
	client := echov1lazy.NewEchoServiceClient(conn)
	ctx := testContext(t)
	created := time.Now()
	if st := conn.Stats(); st.State != connectivity.Idle || st.StateSince.After(created) || st.Dials != 0 {
		t.Errorf("Stats of a new Conn = %+v, want IDLE since before now, no dial", st)
	}
	ss, err := client.ServerStream(ctx, &echov1.ServerStreamRequest{Count: 1, HoldOpen: true})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "READY is seen", func() bool { return conn.Stats().State == connectivity.Ready })
	st := conn.Stats()
	if st.Active != 1 || st.ActiveByMethod["/echo.v1.EchoService/ServerStream"] != 1 || st.Started != 1 || st.Finished != 0 {
		t.Errorf("Stats with a stream open = %+v", st)
	}
	if st.Dials != 1 || !st.StateSince.After(created) {
		t.Errorf("Stats dials/since = %d/%v, want 1/after %v", st.Dials, st.StateSince, created)
	}
	ss.Recv()
	conn.Close()
	// Close cancels the stream; grpc finishes it right after.
	waitUntil(t, "the stream ends", func() bool { return conn.Active() == 0 })
	if st := conn.Stats(); st.State != connectivity.Shutdown || st.Active != 0 || st.Finished != 1 || len(st.ActiveByMethod) != 0 {
		t.Errorf("Stats after Close = %+v", st)
	}
}
