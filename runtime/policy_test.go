package runtime_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lazyclient/lazyclient/runtime"
	echov1 "github.com/lazyclient/lazyclient/testdata/gen/echo/v1"
	"github.com/lazyclient/lazyclient/testdata/gen/echo/v1/echov1lazy"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"
)

// WhileActive must re-dial whether grpc first fails the call in flight (the
// call's end is then seen before the state change) or first reports the
// state change (the call is then still counted). Which comes first is up to
// the scheduler, so the drop is repeated.
func TestWhileActiveReconnectsWhicheverComesFirst(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	var dials dialCounter
	conn := newConn(t, srv.addr, &dials, runtime.WithReconnect(runtime.WhileActive), fastBackoff())
	client := echov1lazy.NewEchoServiceClient(conn)
	ctx := testContext(t)
	if _, err := client.Echo(ctx, &echov1.EchoRequest{}); err != nil {
		t.Fatal(err)
	}
	const rounds = 20
	for i := range rounds {
		waitForState(t, conn, connectivity.Ready)
		done := make(chan error, 1)
		go func() {
			_, err := client.Echo(ctx, &echov1.EchoRequest{SleepMs: 60_000})
			done <- err
		}()
		waitUntil(t, "the server is handling the call", func() bool { return srv.handling.Load() == 1 })
		srv.restart(false)
		if err := <-done; status.Code(err) != codes.Unavailable {
			t.Fatalf("round %d: call in flight at the drop: %v, want Unavailable", i, err)
		}
		waitUntil(t, "the policy's re-dial", func() bool { return dials.count() == int64(i+2) })
	}
	waitForState(t, conn, connectivity.Ready)
	if st := conn.Stats(); st.Drops != rounds || st.Active != 0 {
		t.Errorf("Stats drops/active = %d/%d, want %d/0", st.Drops, st.Active, rounds)
	}
	if n := dials.count(); n != rounds+1 {
		t.Errorf("dials = %d, want %d", n, rounds+1)
	}
}

// A fleet of Eager clients whose server restarts re-dials over the jitter
// window, not in step. It is not parallel, so that other tests do not stall
// the timers it measures.
func TestEagerFleetSpreadsDials(t *testing.T) {
	const (
		clients = 200
		jitter  = runtime.DefaultReconnectJitter
	)
	srv := startServer(t)
	var dials dialCounter
	ctx := testContext(t)
	conns := make([]*runtime.Conn, clients)
	for i := range conns {
		conns[i] = newConn(t, srv.addr, &dials, runtime.WithReconnect(runtime.Eager))
		if err := conns[i].Connect(ctx); err != nil {
			t.Fatal(err)
		}
	}
	restarted := time.Now()
	srv.restart(false)
	waitUntil(t, "every client re-dialled", func() bool { return dials.count() == 2*clients })
	for _, c := range conns {
		waitForState(t, c, connectivity.Ready)
	}
	holdsFor(t, 300*time.Millisecond, "one re-dial per client", func() bool {
		return dials.count() == 2*clients && srv.accepts.Load() == 2*clients
	})

	var offsets []time.Duration
	for _, at := range dials.dialTimes()[clients:] {
		offsets = append(offsets, at.Sub(restarted))
	}
	slices.Sort(offsets)
	// Uniform over the default [0, 2s) puts the 10th and 90th percentiles
	// ~1.6s apart and ~10 dials in any 100ms; in step, they would all be in
	// one. The bounds leave room for a stalled scheduler.
	p10, p50, p90 := offsets[clients/10], offsets[clients/2], offsets[clients*9/10]
	busiest := 0
	for i := range offsets {
		j, _ := slices.BinarySearch(offsets, offsets[i]+100*time.Millisecond)
		busiest = max(busiest, j-i)
	}
	t.Logf("re-dials after the restart: p10 %v, p50 %v, p90 %v, last %v; at most %d in any 100ms",
		p10.Round(time.Millisecond), p50.Round(time.Millisecond), p90.Round(time.Millisecond),
		offsets[clients-1].Round(time.Millisecond), busiest)
	if spread := p90 - p10; spread < jitter/2 {
		t.Errorf("p90-p10 of the re-dials = %v, want at least %v", spread, jitter/2)
	}
	if busiest > clients/2 {
		t.Errorf("%d of %d re-dials in one 100ms window, want at most %d", busiest, clients, clients/2)
	}
	for i, c := range conns {
		if d := c.Stats().Drops; d != 1 {
			t.Fatalf("client %d: Drops = %d, want 1", i, d)
		}
	}
}

func TestConnect(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	var dials dialCounter
	conn := newConn(t, srv.addr, &dials)
	ctx := testContext(t)
	if err := conn.Connect(ctx); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if err := conn.Connect(ctx); err != nil {
		t.Fatalf("Connect when READY: %v", err)
	}
	if s, n := conn.State(), dials.count(); s != connectivity.Ready || n != 1 {
		t.Fatalf("state, dials after Connect = %v, %d; want READY, 1", s, n)
	}
	srv.restart(false)
	waitForState(t, conn, connectivity.Idle)
	if err := conn.Connect(ctx); err != nil {
		t.Fatalf("Connect after a drop: %v", err)
	}
	if s, n := conn.State(), dials.count(); s != connectivity.Ready || n != 2 {
		t.Errorf("state, dials after the second Connect = %v, %d; want READY, 2", s, n)
	}
}

func TestConnectFailsInTransientFailure(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	srv.stop()
	conn := newConn(t, srv.addr, &dialCounter{})
	err := conn.Connect(testContext(t))
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "TRANSIENT_FAILURE") {
		t.Errorf("Connect with the server down: %v, want Unavailable naming TRANSIENT_FAILURE", err)
	}
}

// A server that accepts connections and never answers keeps the channel
// CONNECTING: Connect ends with its context, and says so.
func TestConnectEndsWithItsContext(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lis.Close() })
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	conn := newConn(t, lis.Addr().String(), &dialCounter{})
	ctx, cancel := context.WithTimeout(testContext(t), 300*time.Millisecond)
	defer cancel()
	err = conn.Connect(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || status.Code(err) != codes.DeadlineExceeded ||
		!strings.Contains(err.Error(), "CONNECTING") {
		t.Errorf("Connect to a silent server = %v, want DeadlineExceeded while CONNECTING", err)
	}
	cctx, cancel := context.WithCancel(testContext(t))
	cancel()
	if err := conn.Connect(cctx); !errors.Is(err, context.Canceled) || status.Code(err) != codes.Canceled {
		t.Errorf("Connect with a cancelled context = %v, want Canceled", err)
	}
}

func TestConnectAfterCloseAndShutdown(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	closed := newConn(t, srv.addr, &dialCounter{})
	closed.Close()
	if err := closed.Connect(testContext(t)); !errors.Is(err, runtime.ErrClosed) || status.Code(err) != codes.Canceled {
		t.Errorf("Connect after Close = %v, want ErrClosed", err)
	}
	if err := closed.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	shut := newConn(t, srv.addr, &dialCounter{})
	if err := shut.Shutdown(testContext(t)); err != nil {
		t.Fatalf("Shutdown with no call = %v", err)
	}
	if err := shut.Connect(testContext(t)); !errors.Is(err, runtime.ErrShuttingDown) {
		t.Errorf("Connect after Shutdown = %v, want ErrShuttingDown", err)
	}
}

func TestNewConnRejectsBadOptions(t *testing.T) {
	t.Parallel()
	for name, opt := range map[string]runtime.Option{
		"negative idle timeout": runtime.WithIdleTimeout(-time.Second),
		"negative jitter":       runtime.WithReconnectJitter(-time.Second),
		"unknown policy":        runtime.WithReconnect(runtime.Eager + 1),
		"negative policy":       runtime.WithReconnect(-1),
		"unknown balancing":     runtime.WithLoadBalancing(runtime.RoundRobin + 1),
		"nil logger":            runtime.WithLogger(nil),
	} {
		if _, err := runtime.NewConn("127.0.0.1:1", opt); status.Code(err) != codes.InvalidArgument {
			t.Errorf("NewConn with a %s: %v, want InvalidArgument", name, err)
		}
	}
}

// WithIdleTimeout(0) keeps an unused connection up.
func TestIdleTimeoutZeroDisables(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	var dials dialCounter
	conn := newConn(t, srv.addr, &dials, runtime.WithIdleTimeout(0))
	if err := conn.Connect(testContext(t)); err != nil {
		t.Fatal(err)
	}
	// A Conn with a 300ms idle timeout would have idled three times over.
	holdsFor(t, time.Second, "READY with the idle timeout disabled", func() bool {
		return conn.State() == connectivity.Ready && dials.count() == 1
	})
}

// Shutdown may be called more than once, and Close ends it early: the calls
// in flight are cancelled, so the drain is over.
func TestShutdownTwiceThenClose(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	conn := newConn(t, srv.addr, &dialCounter{})
	client := echov1lazy.NewEchoServiceClient(conn)
	ctx := testContext(t)
	unary := make(chan error, 1)
	go func() {
		_, err := client.Echo(ctx, &echov1.EchoRequest{SleepMs: 60_000})
		unary <- err
	}()
	waitUntil(t, "the call is in flight", func() bool { return conn.Active() == 1 })
	shutdowns := make(chan error, 2)
	for range 2 {
		go func() { shutdowns <- conn.Shutdown(ctx) }()
	}
	holdsFor(t, 200*time.Millisecond, "Shutdown waits for the call", func() bool {
		return len(shutdowns) == 0 && conn.Active() == 1
	})
	if err := conn.Close(); err != nil {
		t.Errorf("Close during Shutdown = %v", err)
	}
	if err := <-unary; status.Code(err) != codes.Canceled {
		t.Errorf("call cut short by Close: %v, want Canceled", err)
	}
	for range 2 {
		if err := <-shutdowns; err != nil {
			t.Errorf("Shutdown ended by Close = %v, want nil", err)
		}
	}
	if _, err := client.Echo(ctx, &echov1.EchoRequest{}); !errors.Is(err, runtime.ErrShuttingDown) {
		t.Errorf("call after Shutdown and Close: %v, want ErrShuttingDown", err)
	}
}

// With nothing in flight the drain is over at once, even if Shutdown's
// context has ended too.
func TestShutdownWithNothingInFlightIgnoresAnEndedContext(t *testing.T) {
	t.Parallel()
	conn := newConn(t, startServer(t).addr, &dialCounter{})
	ctx, cancel := context.WithCancel(testContext(t))
	cancel()
	for range 20 {
		if err := conn.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown with nothing in flight and an ended context = %v, want nil", err)
		}
	}
}
