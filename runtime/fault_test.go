package runtime_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lazyclient/lazyclient/runtime"
	echov1 "github.com/lazyclient/lazyclient/testdata/gen/echo/v1"
	"github.com/lazyclient/lazyclient/testdata/gen/echo/v1/echov1lazy"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"
)

// The fault matrix: each row is a fault, run under each reconnect policy it
// applies to, against a real server on 127.0.0.1. Rows assert exact dial and
// accept counts, states, errors and Active().

var allPolicies = []runtime.Reconnect{runtime.OnDemand, runtime.WhileActive, runtime.Eager}

// testJitter bounds Eager's re-dial delay in the matrix.
const testJitter = 300 * time.Millisecond

// fault is one row's run under one policy.
type fault struct {
	t      *testing.T
	policy runtime.Reconnect
	srv    *testServer
	dials  *dialCounter
	conn   *runtime.Conn
	client echov1lazy.EchoServiceClient
	ctx    context.Context
}

// newConn opens a Conn under the row's policy, counting its dials in f.dials.
func (f *fault) newConn(target string, opts ...runtime.Option) *runtime.Conn {
	opts = append([]runtime.Option{
		runtime.WithReconnect(f.policy), runtime.WithReconnectJitter(testJitter), fastBackoff(),
	}, opts...)
	conn := newConn(f.t, target, f.dials, opts...)
	f.client = echov1lazy.NewEchoServiceClient(conn)
	return conn
}

// connect makes a call and checks that it made the first dial.
func (f *fault) connect() {
	f.t.Helper()
	if _, err := f.client.Echo(f.ctx, &echov1.EchoRequest{}); err != nil {
		f.t.Fatalf("first call: %v", err)
	}
	waitForState(f.t, f.conn, connectivity.Ready)
	if n := f.dials.count(); n != 1 {
		f.t.Fatalf("dials after the first call = %d, want 1", n)
	}
}

// waitForDrop waits until the Conn has seen drops connections drop.
func (f *fault) waitForDrop(drops uint64) {
	f.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); f.conn.Stats().Drops != drops; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			f.t.Fatalf("waited 10s for drop %d; Stats = %+v, dials %d", drops, f.conn.Stats(), f.dials.count())
		}
	}
}

// redials reports whether the policy re-dials after a drop: WhileActive when
// calls were in flight, Eager always.
func (f *fault) redials(callsInFlight bool) bool {
	return f.policy == runtime.Eager || (f.policy == runtime.WhileActive && callsInFlight)
}

// expectAfterDrop checks what the policy did after the first connection
// dropped, the server being back on its port: either one re-dial and READY,
// or IDLE with no dial for a second. Either way the next call works.
func (f *fault) expectAfterDrop(callsInFlight bool) {
	f.t.Helper()
	f.waitForDrop(1)
	if f.redials(callsInFlight) {
		waitUntil(f.t, "the policy's re-dial", func() bool { return f.dials.count() == 2 })
		waitForState(f.t, f.conn, connectivity.Ready)
		holdsFor(f.t, 300*time.Millisecond, "READY with 2 dials, 2 accepts", func() bool {
			return f.conn.State() == connectivity.Ready && f.dials.count() == 2 && f.srv.accepts.Load() == 2
		})
	} else {
		waitForState(f.t, f.conn, connectivity.Idle)
		holdsFor(f.t, time.Second, "IDLE with 1 dial, 1 accept", func() bool {
			return f.conn.State() == connectivity.Idle && f.dials.count() == 1 && f.srv.accepts.Load() == 1
		})
	}
	if _, err := f.client.Echo(f.ctx, &echov1.EchoRequest{}); err != nil {
		f.t.Fatalf("call after the drop: %v", err)
	}
	if n, a := f.dials.count(), f.srv.accepts.Load(); n != 2 || a != 2 {
		f.t.Errorf("dials, accepts after the next call = %d, %d; want 2, 2", n, a)
	}
	waitUntil(f.t, "Active() == 0", func() bool { return f.conn.Active() == 0 })
}

// faultRow is a fault, with the expectations of every policy.
type faultRow struct {
	name string
	run  func(f *fault)
}

func TestFaultMatrix(t *testing.T) {
	for _, row := range faultRows {
		for _, p := range allPolicies {
			t.Run(row.name+"/"+p.String(), func(t *testing.T) {
				t.Parallel()
				row.run(&fault{t: t, policy: p})
			})
		}
	}
}

// open starts f's server and opens its Conn to it.
func (f *fault) open(opts ...runtime.Option) *fault {
	f.srv, f.dials, f.ctx = startServer(f.t), &dialCounter{}, testContext(f.t)
	f.conn = f.newConn(f.srv.addr, opts...)
	return f
}

var faultRows = []faultRow{
	{"ServerStoppedWhileIdle", faultServerGoneWhileIdle((*testServer).stop)},
	{"GoAwayThenGoneWhileIdle", faultServerGoneWhileIdle((*testServer).gracefulStop)},
	{"GoAwayWhileIdle", faultGoAwayWhileIdle},
	{"ResolverUpdateWhileIdle", faultResolverUpdateWhileIdle},
	{"DropDuringUnary", faultDropDuringUnary},
	{"GoAwayDuringUnary", faultGoAwayDuringUnary},
	{"DropDuringServerStream", faultDropDuringStream(runtime.ServerStreaming)},
	{"DropDuringClientStream", faultDropDuringStream(runtime.ClientStreaming)},
	{"DropDuringBidiStream", faultDropDuringStream(runtime.BidiStreaming)},
	{"BurstWhileIdle", faultBurstWhileIdle},
	{"ContextEndedBeforeDispatch", faultContextEndedBeforeDispatch},
	{"DeadlineWhileWaitingForReady", faultDeadlineWhileWaitingForReady},
	{"StreamCreationFails", faultStreamCreationFails},
	{"StreamAbandoned", faultStreamAbandoned},
	{"IdleTimeout", faultIdleTimeout},
	{"StickyTransientFailure", faultStickyTransientFailure},
	{"ShutdownWithCallsInFlight", faultShutdownWithCallsInFlight},
	{"ShutdownDeadlineExpires", faultShutdownDeadlineExpires},
	{"CloseRacingWithCalls", faultCloseRacingWithCalls},
}

// The server goes away, abruptly or after a GOAWAY, with the connection
// READY and no call in flight. OnDemand and WhileActive stay IDLE; Eager
// re-dials once, then grpc alone retries, on its backoff schedule: the policy
// adds no loop of its own.
func faultServerGoneWhileIdle(stop func(*testServer)) func(f *fault) {
	return func(f *fault) { serverGoneWhileIdle(f, stop) }
}

func serverGoneWhileIdle(f *fault, stop func(*testServer)) {
	f.open().connect()
	stop(f.srv)
	f.waitForDrop(1)
	if f.policy != runtime.Eager {
		holdsFor(f.t, time.Second, "IDLE with 1 dial", func() bool {
			return f.conn.State() == connectivity.Idle && f.dials.count() == 1
		})
		f.srv.start()
		if _, err := f.client.Echo(f.ctx, &echov1.EchoRequest{}); err != nil {
			f.t.Fatalf("call after restart: %v", err)
		}
		if n := f.dials.count(); n != 2 {
			f.t.Errorf("dials = %d, want 2", n)
		}
		return
	}
	waitForState(f.t, f.conn, connectivity.TransientFailure)
	time.Sleep(1600 * time.Millisecond)
	// fastBackoff: 100ms, 200ms, 400ms, then 800ms after each failure.
	times := f.dials.dialTimes()[1:]
	if len(times) < 2 {
		f.t.Fatalf("%d dials in 1.6s of TRANSIENT_FAILURE, want Eager's and grpc's retries", len(times))
	}
	for i := 1; i < len(times); i++ {
		want := min(100*time.Millisecond<<(i-1), 800*time.Millisecond)
		if gap := times[i].Sub(times[i-1]); gap < want-10*time.Millisecond {
			f.t.Errorf("dial %d came %v after the one before, want at least grpc's backoff of %v", i+2, gap, want)
		}
	}
	f.srv.start()
	waitForState(f.t, f.conn, connectivity.Ready)
	if d := f.conn.Stats().Drops; d != 1 {
		f.t.Errorf("Drops = %d, want 1", d)
	}
}

// The server sends GOAWAY (GracefulStop) with no call in flight and is back
// at once: a GOAWAY is a drop like any other.
func faultGoAwayWhileIdle(f *fault) {
	f.open().connect()
	f.srv.restart(true)
	f.expectAfterDrop(false)
}

// The resolver sends a new address list while the channel is IDLE after a
// drop: nothing is dialled until a call, which goes to the new first address.
// Under Eager the channel is READY again by then, on an address the update
// keeps, and the update dials nothing either.
func faultResolverUpdateWhileIdle(f *fault) {
	srv := startServer(f.t)
	f.srv, f.dials, f.ctx = srv, &dialCounter{}, testContext(f.t)
	r, target, withResolver := manualResolver(f.t, srv.addr)
	f.conn = f.newConn(target, withResolver)
	f.connect()
	srv.restart(false)
	f.waitForDrop(1)
	wantDials := int64(1)
	wantState := connectivity.Idle
	if f.policy == runtime.Eager {
		wantDials, wantState = 2, connectivity.Ready
		waitUntil(f.t, "Eager's re-dial", func() bool { return f.dials.count() == 2 })
	}
	waitForState(f.t, f.conn, wantState)
	srv2 := startServer(f.t)
	r.UpdateState(resolverState(srv2.addr, srv.addr))
	holdsFor(f.t, time.Second, "no dial after the resolver update", func() bool {
		return f.conn.State() == wantState && f.dials.count() == wantDials && srv2.accepts.Load() == 0
	})
	if _, err := f.client.Echo(f.ctx, &echov1.EchoRequest{}); err != nil {
		f.t.Fatalf("call after the update: %v", err)
	}
	if f.policy != runtime.Eager {
		if n, a := f.dials.count(), srv2.accepts.Load(); n != 2 || a != 1 {
			f.t.Errorf("dials, accepts by the new address = %d, %d; want 2, 1", n, a)
		}
	}
}

// The connection drops under a unary call: the call fails with Unavailable
// and counts as in flight for WhileActive, whichever grpc reports first.
func faultDropDuringUnary(f *fault) {
	f.open().connect()
	done := make(chan error, 1)
	go func() {
		_, err := f.client.Echo(f.ctx, &echov1.EchoRequest{SleepMs: 60_000})
		done <- err
	}()
	waitUntil(f.t, "the server is handling the call", func() bool { return f.srv.handling.Load() == 1 })
	f.srv.restart(false)
	if err := <-done; status.Code(err) != codes.Unavailable {
		f.t.Fatalf("call in flight at the drop: %v, want Unavailable", err)
	}
	if n := f.conn.Active(); n != 0 {
		f.t.Errorf("Active() after the call failed = %d, want 0", n)
	}
	f.expectAfterDrop(true)
}

// The server sends GOAWAY under a unary call: the call finishes on the old
// connection, and the channel needs a new one, which WhileActive dials at
// once because the call was still in flight.
func faultGoAwayDuringUnary(f *fault) {
	f.open().connect()
	done := make(chan error, 1)
	go func() {
		_, err := f.client.Echo(f.ctx, &echov1.EchoRequest{SleepMs: 300})
		done <- err
	}()
	waitUntil(f.t, "the server is handling the call", func() bool { return f.srv.handling.Load() == 1 })
	f.srv.restart(true) // returns when the call is over
	if err := <-done; err != nil {
		f.t.Fatalf("call in flight at the GOAWAY: %v, want it to finish", err)
	}
	f.expectAfterDrop(true)
}

// The connection drops under an open stream: the stream stays registered
// until its caller reads the error.
func faultDropDuringStream(kind runtime.Kind) func(f *fault) {
	return func(f *fault) {
		f.open().connect()
		recv := openStream(f, f.ctx, kind)
		if n := f.conn.Active(); n != 1 {
			f.t.Fatalf("Active() with the stream open = %d, want 1", n)
		}
		waitUntil(f.t, "the server is handling the stream", func() bool { return f.srv.handling.Load() == 1 })
		f.srv.restart(false)
		if err := recv(); status.Code(err) != codes.Unavailable {
			f.t.Fatalf("%v stream after the drop: %v, want Unavailable", kind, err)
		}
		if n := f.conn.Active(); n != 0 {
			f.t.Errorf("Active() after the stream's error = %d, want 0", n)
		}
		f.expectAfterDrop(true)
	}
}

// openStream opens a stream of kind that the server holds open, with one
// message exchanged where the kind allows, and returns a function that reads
// the stream's end and returns its error.
func openStream(f *fault, ctx context.Context, kind runtime.Kind) (recv func() error) {
	f.t.Helper()
	switch kind {
	case runtime.ServerStreaming:
		s, err := f.client.ServerStream(ctx, &echov1.ServerStreamRequest{Count: 1, HoldOpen: true})
		if err != nil {
			f.t.Fatalf("ServerStream: %v", err)
		}
		if _, err := s.Recv(); err != nil {
			f.t.Fatalf("ServerStream Recv: %v", err)
		}
		return func() error { _, err := s.Recv(); return err }
	case runtime.ClientStreaming:
		s, err := f.client.ClientStream(ctx)
		if err != nil {
			f.t.Fatalf("ClientStream: %v", err)
		}
		if err := s.Send(&echov1.EchoRequest{Message: "a"}); err != nil {
			f.t.Fatalf("ClientStream Send: %v", err)
		}
		return func() error { _, err := s.CloseAndRecv(); return err }
	default:
		s, err := f.client.Bidi(ctx)
		if err != nil {
			f.t.Fatalf("Bidi: %v", err)
		}
		if err := s.Send(&echov1.EchoRequest{Message: "a"}); err != nil {
			f.t.Fatalf("Bidi Send: %v", err)
		}
		if _, err := s.Recv(); err != nil {
			f.t.Fatalf("Bidi Recv: %v", err)
		}
		return func() error { _, err := s.Recv(); return err }
	}
}

// burst makes n calls at once and fails the test if any fails.
func burst(f *fault, n int) {
	f.t.Helper()
	start := make(chan struct{})
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			<-start
			_, err := f.client.Echo(f.ctx, &echov1.EchoRequest{})
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			f.t.Fatalf("call in the burst: %v", err)
		}
	}
}

// 500 calls dispatched at once on an IDLE channel share one dial, on a new
// Conn and again after a drop.
func faultBurstWhileIdle(f *fault) {
	f.open()
	burst(f, 500)
	if n, a := f.dials.count(), f.srv.accepts.Load(); n != 1 || a != 1 {
		f.t.Fatalf("dials, accepts after the first burst = %d, %d; want 1, 1", n, a)
	}
	f.srv.restart(false)
	f.waitForDrop(1)
	if f.policy == runtime.Eager {
		waitUntil(f.t, "Eager's re-dial", func() bool { return f.dials.count() == 2 })
		waitForState(f.t, f.conn, connectivity.Ready)
	} else {
		waitForState(f.t, f.conn, connectivity.Idle)
	}
	burst(f, 500)
	if n, a := f.dials.count(), f.srv.accepts.Load(); n != 2 || a != 2 {
		f.t.Errorf("dials, accepts after the second burst = %d, %d; want 2, 2", n, a)
	}
	st := f.conn.Stats()
	if st.Active != 0 || st.Started != 1000 || st.Finished != 1000 {
		f.t.Errorf("Stats active/started/finished = %d/%d/%d, want 0/1000/1000", st.Active, st.Started, st.Finished)
	}
}

// A call whose context has already ended fails with the context's error,
// is counted, and dials nothing.
func faultContextEndedBeforeDispatch(f *fault) {
	f.open()
	canceled, cancel := context.WithCancel(f.ctx)
	cancel()
	expired, cancel := context.WithDeadline(f.ctx, time.Now().Add(-time.Second))
	defer cancel()
	for _, c := range []struct {
		ctx  context.Context
		code codes.Code
		err  error
	}{{canceled, codes.Canceled, context.Canceled}, {expired, codes.DeadlineExceeded, context.DeadlineExceeded}} {
		errs := map[string]error{}
		_, errs["Echo"] = f.client.Echo(c.ctx, &echov1.EchoRequest{})
		_, errs["ServerStream"] = f.client.ServerStream(c.ctx, &echov1.ServerStreamRequest{})
		_, errs["ClientStream"] = f.client.ClientStream(c.ctx)
		_, errs["Bidi"] = f.client.Bidi(c.ctx)
		for name, err := range errs {
			if status.Code(err) != c.code || !errors.Is(err, c.err) {
				f.t.Errorf("%s on an ended context: %v, want %v matching %v", name, err, c.code, c.err)
			}
		}
	}
	st := f.conn.Stats()
	if st.Active != 0 || st.Started != 8 || st.Finished != 8 {
		f.t.Errorf("Stats active/started/finished = %d/%d/%d, want 0/8/8", st.Active, st.Started, st.Finished)
	}
	holdsFor(f.t, time.Second, "IDLE with no dial", func() bool {
		return f.conn.State() == connectivity.Idle && f.dials.count() == 0 && f.srv.accepts.Load() == 0
	})
}

// A wait-for-ready call whose deadline passes while the server is down fails
// with DeadlineExceeded, whether wait-for-ready comes from the caller or from
// the method's policy; the channel stays in TRANSIENT_FAILURE.
func faultDeadlineWhileWaitingForReady(f *fault) {
	f.open()
	f.srv.stop()
	ctx, cancel := context.WithTimeout(f.ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := f.client.Echo(ctx, &echov1.EchoRequest{}, grpc.WaitForReady(true)); status.Code(err) != codes.DeadlineExceeded {
		f.t.Errorf("wait-for-ready call with the server down: %v, want DeadlineExceeded", err)
	}
	desc := echov1lazy.EchoService_Echo_MethodDesc
	desc.WaitForReady = true
	ctx, cancel = context.WithTimeout(f.ctx, 300*time.Millisecond)
	defer cancel()
	_, err := runtime.Invoke[echov1.EchoRequest, echov1.EchoResponse](ctx, f.conn.Method(&desc), &echov1.EchoRequest{})
	if status.Code(err) != codes.DeadlineExceeded {
		f.t.Errorf("call of a wait-for-ready method with the server down: %v, want DeadlineExceeded", err)
	}
	if got := f.conn.State(); got != connectivity.TransientFailure {
		f.t.Errorf("state = %v, want TRANSIENT_FAILURE", got)
	}
	if n := f.conn.Active(); n != 0 {
		f.t.Errorf("Active() = %d, want 0", n)
	}
}

// A stream that cannot be created fails, and is deregistered, whether grpc
// fails it (fail-fast in TRANSIENT_FAILURE) or an interceptor does.
func faultStreamCreationFails(f *fault) {
	refused := status.Error(codes.PermissionDenied, "refused by the interceptor")
	f.open(runtime.WithDialOptions(grpc.WithStreamInterceptor(
		func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			if strings.HasSuffix(method, "/Bidi") {
				return nil, refused
			}
			return streamer(ctx, desc, cc, method, opts...)
		})))
	f.srv.stop()
	_, err := f.client.ServerStream(f.ctx, &echov1.ServerStreamRequest{})
	if status.Code(err) != codes.Unavailable {
		f.t.Errorf("ServerStream with the server down: %v, want Unavailable", err)
	}
	waitForState(f.t, f.conn, connectivity.TransientFailure)
	if _, err := f.client.ClientStream(f.ctx); status.Code(err) != codes.Unavailable {
		f.t.Errorf("ClientStream in TRANSIENT_FAILURE: %v, want Unavailable", err)
	}
	if _, err := f.client.Bidi(f.ctx); !errors.Is(err, refused) {
		f.t.Errorf("Bidi refused by the interceptor: %v, want %v", err, refused)
	}
	st := f.conn.Stats()
	if st.Active != 0 || st.Started != 3 || st.Finished != 3 {
		f.t.Errorf("Stats active/started/finished = %d/%d/%d, want 0/3/3", st.Active, st.Started, st.Finished)
	}
}

// Streams whose callers stop reading and cancel their contexts are
// deregistered; the connection stays up.
func faultStreamAbandoned(f *fault) {
	f.open().connect()
	ctx, cancel := context.WithCancel(f.ctx)
	for _, k := range []runtime.Kind{runtime.ServerStreaming, runtime.ClientStreaming, runtime.BidiStreaming} {
		openStream(f, ctx, k)
	}
	if n := f.conn.Active(); n != 3 {
		f.t.Fatalf("Active() with 3 streams open = %d, want 3", n)
	}
	cancel()
	waitUntil(f.t, "the abandoned streams end", func() bool { return f.conn.Active() == 0 })
	st := f.conn.Stats()
	if st.Started != 4 || st.Finished != 4 || len(st.ActiveByMethod) != 0 {
		f.t.Errorf("Stats started/finished/by method = %d/%d/%v, want 4/4/[]", st.Started, st.Finished, st.ActiveByMethod)
	}
	if s, n := f.conn.State(), f.dials.count(); s != connectivity.Ready || n != 1 {
		f.t.Errorf("state, dials = %v, %d; want READY, 1", s, n)
	}
}

// The idle timeout lets an unused connection go, which no policy undoes, and
// never takes one with a call in flight.
func faultIdleTimeout(f *fault) {
	const timeout = time.Second
	f.open(runtime.WithIdleTimeout(timeout)).connect()
	waitForState(f.t, f.conn, connectivity.Idle)
	holdsFor(f.t, time.Second, "IDLE after the idle timeout, no re-dial", func() bool {
		return f.conn.State() == connectivity.Idle && f.dials.count() == 1
	})
	s, err := f.client.Bidi(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	waitForState(f.t, f.conn, connectivity.Ready)
	holdsFor(f.t, 3*timeout, "READY with a stream open", func() bool {
		return f.conn.State() == connectivity.Ready && f.conn.Active() == 1
	})
	s.CloseSend()
	if _, err := s.Recv(); !isEOF(err) {
		f.t.Fatalf("Bidi Recv after CloseSend: %v, want io.EOF", err)
	}
	waitForState(f.t, f.conn, connectivity.Idle)
	if st := f.conn.Stats(); st.Drops != 0 || st.Dials != 2 || f.dials.count() != 2 {
		f.t.Errorf("Stats drops/dials, dials = %d/%d, %d; want 0/2, 2", st.Drops, st.Dials, f.dials.count())
	}
}

// With the server down the channel sticks in TRANSIENT_FAILURE: fail-fast
// calls fail at once, wait-for-ready calls wait until the server is back.
func faultStickyTransientFailure(f *fault) {
	f.open()
	f.srv.stop()
	if _, err := f.client.Echo(f.ctx, &echov1.EchoRequest{}); status.Code(err) != codes.Unavailable {
		f.t.Fatalf("fail-fast call with the server down: %v, want Unavailable", err)
	}
	waitForState(f.t, f.conn, connectivity.TransientFailure)
	done := make(chan error, 1)
	go func() {
		_, err := f.client.Echo(f.ctx, &echov1.EchoRequest{Message: "waited"}, grpc.WaitForReady(true))
		done <- err
	}()
	waitUntil(f.t, "the wait-for-ready call is in flight", func() bool { return f.conn.Active() == 1 })
	if _, err := f.client.Echo(f.ctx, &echov1.EchoRequest{}); status.Code(err) != codes.Unavailable {
		f.t.Errorf("fail-fast call beside a waiting one: %v, want Unavailable", err)
	}
	holdsFor(f.t, 500*time.Millisecond, "TRANSIENT_FAILURE with the call waiting", func() bool {
		return f.conn.State() == connectivity.TransientFailure && f.conn.Active() == 1
	})
	f.srv.start()
	if err := <-done; err != nil {
		f.t.Fatalf("wait-for-ready call after the server came back: %v", err)
	}
	// grpc hands the call its connection a moment before it reports READY.
	waitForState(f.t, f.conn, connectivity.Ready)
	if n := f.conn.Active(); n != 0 {
		f.t.Errorf("Active() = %d, want 0", n)
	}
}

// isShuttingDown reports whether err is the refusal of a draining Conn.
func isShuttingDown(err error) bool {
	return errors.Is(err, runtime.ErrShuttingDown) && status.Code(err) == codes.Unavailable &&
		strings.Contains(err.Error(), "shutting down")
}

// Shutdown refuses new calls at once and lets those in flight finish.
func faultShutdownWithCallsInFlight(f *fault) {
	f.open().connect()
	unary := make(chan error, 1)
	go func() {
		_, err := f.client.Echo(f.ctx, &echov1.EchoRequest{SleepMs: 500})
		unary <- err
	}()
	bidi, err := f.client.Bidi(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	waitUntil(f.t, "2 calls in flight", func() bool { return f.conn.Active() == 2 })
	shutdown := make(chan error, 1)
	go func() { shutdown <- f.conn.Shutdown(f.ctx) }()
	waitUntil(f.t, "new calls are refused", func() bool {
		_, err := f.client.Ping(f.ctx, nil)
		return err != nil
	})
	for name, err := range map[string]error{
		"Echo":         func() error { _, err := f.client.Echo(f.ctx, &echov1.EchoRequest{}); return err }(),
		"Bidi":         func() error { _, err := f.client.Bidi(f.ctx); return err }(),
		"Connect":      f.conn.Connect(f.ctx),
		"ServerStream": func() error { _, err := f.client.ServerStream(f.ctx, &echov1.ServerStreamRequest{}); return err }(),
	} {
		if !isShuttingDown(err) {
			f.t.Errorf("%s during Shutdown: %v, want ErrShuttingDown", name, err)
		}
	}
	if err := bidi.Send(&echov1.EchoRequest{Message: "still"}); err != nil {
		f.t.Fatalf("Send on a stream in flight during Shutdown: %v", err)
	}
	if res, err := bidi.Recv(); err != nil || res.GetMessage() != "still" {
		f.t.Fatalf("Recv on a stream in flight during Shutdown = %v, %v", res, err)
	}
	bidi.CloseSend()
	if _, err := bidi.Recv(); !isEOF(err) {
		f.t.Fatalf("Recv after CloseSend: %v, want io.EOF", err)
	}
	if err := <-unary; err != nil {
		f.t.Errorf("unary call in flight during Shutdown: %v", err)
	}
	if err := <-shutdown; err != nil {
		f.t.Errorf("Shutdown = %v, want nil", err)
	}
	if s, n := f.conn.State(), f.conn.Active(); s != connectivity.Shutdown || n != 0 {
		f.t.Errorf("state, Active() after Shutdown = %v, %d; want SHUTDOWN, 0", s, n)
	}
	if _, err := f.client.Echo(f.ctx, &echov1.EchoRequest{}); !isShuttingDown(err) {
		f.t.Errorf("call after Shutdown: %v, want ErrShuttingDown", err)
	}
}

// When Shutdown's context ends first, it returns the context's error and
// closes the connection all the same, cancelling the calls still in flight.
func faultShutdownDeadlineExpires(f *fault) {
	f.open().connect()
	unary := make(chan error, 1)
	go func() {
		_, err := f.client.Echo(f.ctx, &echov1.EchoRequest{SleepMs: 60_000})
		unary <- err
	}()
	waitUntil(f.t, "the call is in flight", func() bool { return f.conn.Active() == 1 })
	ctx, cancel := context.WithTimeout(f.ctx, 300*time.Millisecond)
	defer cancel()
	err := f.conn.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || status.Code(err) != codes.DeadlineExceeded {
		f.t.Errorf("Shutdown with a call that outlives its deadline = %v, want DeadlineExceeded", err)
	}
	if err := <-unary; status.Code(err) != codes.Canceled {
		f.t.Errorf("call cut short by Shutdown: %v, want Canceled", err)
	}
	if s, n := f.conn.State(), f.conn.Active(); s != connectivity.Shutdown || n != 0 {
		f.t.Errorf("state, Active() after Shutdown = %v, %d; want SHUTDOWN, 0", s, n)
	}
}

// roundTrip makes one complete call of kind and returns its error, nil when
// it ended well.
func roundTrip(ctx context.Context, client echov1lazy.EchoServiceClient, kind runtime.Kind, sleep time.Duration, opts ...grpc.CallOption) error {
	var err error
	switch kind {
	case runtime.Unary:
		_, err = client.Echo(ctx, &echov1.EchoRequest{SleepMs: sleep.Milliseconds()}, opts...)
	case runtime.ServerStreaming:
		var s grpc.ServerStreamingClient[echov1.EchoResponse]
		if s, err = client.ServerStream(ctx, &echov1.ServerStreamRequest{Count: 2}, opts...); err == nil {
			for err == nil {
				_, err = s.Recv()
			}
		}
	case runtime.ClientStreaming:
		var s grpc.ClientStreamingClient[echov1.EchoRequest, echov1.EchoResponse]
		if s, err = client.ClientStream(ctx, opts...); err == nil {
			s.Send(&echov1.EchoRequest{}) // a failed send shows in CloseAndRecv
			_, err = s.CloseAndRecv()
		}
	case runtime.BidiStreaming:
		var s grpc.BidiStreamingClient[echov1.EchoRequest, echov1.EchoResponse]
		if s, err = client.Bidi(ctx, opts...); err == nil {
			s.Send(&echov1.EchoRequest{}) // a failed send shows in Recv
			s.CloseSend()
			for err == nil {
				_, err = s.Recv()
			}
		}
	}
	if isEOF(err) {
		return nil
	}
	return err
}

// Close while calls of every kind start and run: every call returns, with
// Canceled (or Unavailable, from a transport closing under it) once the Conn
// is closed, and none stays registered.
func faultCloseRacingWithCalls(f *fault) {
	f.open().connect()
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Go(func() {
			for {
				if err := roundTrip(f.ctx, f.client, runtime.Kind(i%4), time.Duration(i%3)*time.Millisecond); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	if err := f.conn.Close(); err != nil {
		f.t.Errorf("Close = %v", err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if c := status.Code(err); c != codes.Canceled && c != codes.Unavailable {
			f.t.Errorf("call racing with Close: %v, want Canceled or Unavailable", err)
		}
	}
	if n := f.conn.Active(); n != 0 {
		f.t.Errorf("Active() after Close = %d, want 0", n)
	}
	if _, err := f.client.Echo(f.ctx, &echov1.EchoRequest{}); !errors.Is(err, runtime.ErrClosed) {
		f.t.Errorf("call after Close: %v, want ErrClosed", err)
	}
}
