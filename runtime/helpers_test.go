package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lazyclient/lazyclient/runtime"
	echov1 "github.com/lazyclient/lazyclient/testdata/gen/echo/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/protobuf/types/known/emptypb"
)

// echoServer implements the testdata EchoService.
type echoServer struct {
	echov1.UnimplementedEchoServiceServer
}

func (echoServer) Echo(ctx context.Context, req *echov1.EchoRequest) (*echov1.EchoResponse, error) {
	if d := time.Duration(req.GetSleepMs()) * time.Millisecond; d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return &echov1.EchoResponse{Message: req.GetMessage()}, nil
}

func (s echoServer) OldEcho(ctx context.Context, req *echov1.EchoRequest) (*echov1.EchoResponse, error) {
	return s.Echo(ctx, req)
}

func (echoServer) Ping(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func (echoServer) ServerStream(req *echov1.ServerStreamRequest, stream grpc.ServerStreamingServer[echov1.EchoResponse]) error {
	for range req.GetCount() {
		if err := stream.Send(&echov1.EchoResponse{Message: req.GetMessage()}); err != nil {
			return err
		}
	}
	if req.GetHoldOpen() {
		<-stream.Context().Done()
	}
	return nil
}

func (echoServer) ClientStream(stream grpc.ClientStreamingServer[echov1.EchoRequest, echov1.EchoResponse]) error {
	var parts []string
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return stream.SendAndClose(&echov1.EchoResponse{Message: strings.Join(parts, " ")})
		}
		if err != nil {
			return err
		}
		parts = append(parts, req.GetMessage())
	}
}

func (echoServer) Bidi(stream grpc.BidiStreamingServer[echov1.EchoRequest, echov1.EchoResponse]) error {
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(&echov1.EchoResponse{Message: req.GetMessage()}); err != nil {
			return err
		}
	}
}

// testServer is a real grpc-go server on a fixed loopback port that can be
// stopped and started again, and that counts the connections it accepts.
//
// The port is held by one listener from start to stop. restart swaps the
// grpc server behind it without closing the port, so that a client that
// re-dials at once is queued, not refused, and every dial count is exact.
type testServer struct {
	t       testing.TB
	addr    string
	accepts atomic.Int64
	// handling is the number of calls in the server's handlers. Wait for it
	// before a drop meant to hit a call: a call the server has not seen yet
	// is retried transparently by grpc on the next connection.
	handling atomic.Int64

	mu       sync.Mutex
	srv      *grpc.Server
	gen      *genListener
	conns    chan net.Conn // from the port's listener to the serving generation
	closing  chan struct{} // closed by stop, to end the pump
	pumpDone chan struct{}
}

// startServer starts an EchoService server on 127.0.0.1 and stops it when the
// test ends.
func startServer(t testing.TB) *testServer {
	t.Helper()
	s := &testServer{t: t, addr: "127.0.0.1:0"}
	s.start()
	t.Cleanup(s.stop)
	return s
}

// start opens the server's port and serves on it; after the first start that
// is the same port, so a client's target stays valid across restarts.
func (s *testServer) start() {
	s.t.Helper()
	var lis net.Listener
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; {
		if lis, err = net.Listen("tcp", s.addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond) // the port may still be held by the last run
	}
	if err != nil {
		s.t.Fatalf("listen on %s: %v", s.addr, err)
	}
	s.addr = lis.Addr().String()
	s.mu.Lock()
	s.conns, s.closing, s.pumpDone = make(chan net.Conn), make(chan struct{}), make(chan struct{})
	go s.pump(lis, s.conns, s.closing, s.pumpDone)
	s.serveLocked()
	s.mu.Unlock()
}

// pump hands the port's connections to whichever server generation serves.
func (s *testServer) pump(lis net.Listener, conns chan<- net.Conn, closing, done chan struct{}) {
	defer close(done)
	go func() { <-closing; lis.Close() }()
	for {
		c, err := lis.Accept()
		if err != nil {
			return
		}
		select {
		case conns <- c:
		case <-closing:
			c.Close()
			return
		}
	}
}

// serveLocked starts a new grpc server on the open port.
func (s *testServer) serveLocked() {
	srv := grpc.NewServer(
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			s.handling.Add(1)
			defer s.handling.Add(-1)
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			s.handling.Add(1)
			defer s.handling.Add(-1)
			return h(srv, ss)
		}),
	)
	echov1.RegisterEchoServiceServer(srv, echoServer{})
	s.srv = srv
	s.gen = &genListener{conns: s.conns, done: make(chan struct{}), addr: s.addr, accepts: &s.accepts}
	go srv.Serve(s.gen)
}

// takeServer detaches the serving grpc server, or returns nil.
func (s *testServer) takeServer() *grpc.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	srv := s.srv
	s.srv = nil
	return srv
}

// closePort closes the port, so that dials are refused until start.
func (s *testServer) closePort() {
	s.mu.Lock()
	closing, done := s.closing, s.pumpDone
	s.closing = nil
	s.mu.Unlock()
	if closing != nil {
		close(closing)
		<-done
	}
}

// stop closes every connection at once and closes the port.
func (s *testServer) stop() {
	if srv := s.takeServer(); srv != nil {
		srv.Stop()
	}
	s.closePort()
}

// gracefulStop sends GOAWAY, waits for the calls in flight, then closes the
// port.
func (s *testServer) gracefulStop() {
	if srv := s.takeServer(); srv != nil {
		srv.GracefulStop()
	}
	s.closePort()
}

// restart closes every connection at once, gracefully or not, and serves
// again on the port, which stays open throughout.
func (s *testServer) restart(graceful bool) {
	srv := s.takeServer()
	if graceful {
		srv.GracefulStop()
	} else {
		srv.Stop()
	}
	s.mu.Lock()
	s.serveLocked()
	s.mu.Unlock()
}

// genListener is one server generation's view of the port.
type genListener struct {
	conns     <-chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
	addr      string
	accepts   *atomic.Int64
}

func (l *genListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		l.accepts.Add(1)
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *genListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

func (l *genListener) Addr() net.Addr {
	a, _ := net.ResolveTCPAddr("tcp", l.addr)
	return a
}

// dialCounter is a grpc.WithContextDialer that counts every dial and notes
// when it was made.
type dialCounter struct {
	n     atomic.Int64
	mu    sync.Mutex
	times []time.Time
}

func (d *dialCounter) dial(ctx context.Context, addr string) (net.Conn, error) {
	d.n.Add(1)
	d.mu.Lock()
	d.times = append(d.times, time.Now())
	d.mu.Unlock()
	return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
}

func (d *dialCounter) count() int64 { return d.n.Load() }

// dialTimes returns when each dial was made, in order.
func (d *dialCounter) dialTimes() []time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.times)
}

// newConn returns a Conn to addr whose dials d counts, closed when the test
// ends.
func newConn(t testing.TB, addr string, d *dialCounter, opts ...runtime.Option) *runtime.Conn {
	t.Helper()
	opts = append([]runtime.Option{runtime.WithDialOptions(grpc.WithContextDialer(d.dial))}, opts...)
	conn, err := runtime.NewConn(addr, opts...)
	if err != nil {
		t.Fatalf("NewConn(%q): %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// waitForState waits until conn reports want and has seen it itself,
// failing the test after 10s.
func waitForState(t testing.TB, conn *runtime.Conn, want connectivity.State) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for s := conn.State(); s != want; s = conn.State() {
		if !conn.ClientConn().WaitForStateChange(ctx, s) {
			t.Fatalf("state is %v after 10s, want %v", s, want)
		}
	}
	// The Conn sees states through a goroutine that a loaded machine may
	// run late; a fault injected before it has seen this state would be
	// lost to the Conn's counters and policy, not only to the test.
	waitUntil(t, "the Conn has seen "+want.String(), func() bool { return conn.Stats().State == want })
}

// waitUntil polls cond until it holds, failing the test after 10s.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// holdsFor fails the test if cond stops holding at any point in window.
// Callers first wait for the state the check starts from.
func holdsFor(t testing.TB, window time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(window); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if !cond() {
			t.Fatalf("%s stopped holding within %v", what, window)
		}
	}
}

// testContext is a context that ends with the test, or after 30s.
func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }

// fastBackoff makes grpc retry a failed connection after 100ms, 200ms, 400ms,
// then every 800ms, with no jitter, so that tests that wait for a retry stay
// short and their dial counts predictable.
func fastBackoff() runtime.Option {
	return runtime.WithDialOptions(grpc.WithConnectParams(grpc.ConnectParams{
		Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 2, MaxDelay: 800 * time.Millisecond},
		MinConnectTimeout: 5 * time.Second,
	}))
}

// manualResolver returns a resolver whose addresses the test sets, with a
// scheme of its own, and the target that selects it.
func manualResolver(t testing.TB, addrs ...string) (*manual.Resolver, string, runtime.Option) {
	t.Helper()
	r := manual.NewBuilderWithScheme(fmt.Sprintf("lazytest%d", resolverSeq.Add(1)))
	r.InitialState(resolverState(addrs...))
	return r, r.Scheme() + ":///test", runtime.WithDialOptions(grpc.WithResolvers(r))
}

var resolverSeq atomic.Int64

// resolverState lists addrs, one endpoint each.
func resolverState(addrs ...string) resolver.State {
	var s resolver.State
	for _, a := range addrs {
		s.Endpoints = append(s.Endpoints, resolver.Endpoint{Addresses: []resolver.Address{{Addr: a}}})
	}
	return s
}

// checkGoroutines fails the test if goroutines started during it are still
// running 10s after it and its cleanups end. Register it first, so that it
// runs after the other cleanups. The test must not be parallel: it counts
// every goroutine in the process.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := goroutineIDs()
	t.Cleanup(func() {
		var left []string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			left = left[:0]
			for id, stack := range goroutineStacks() {
				if !before[id] {
					left = append(left, stack)
				}
			}
			if len(left) == 0 {
				return
			}
		}
		t.Errorf("%d goroutines left behind, the first:\n%s", len(left), left[0])
	})
}

// goroutineStacks maps the ID of every goroutine but the caller's to its stack.
func goroutineStacks() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := goruntime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	stacks := map[string]string{}
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i == 0 {
			continue // the caller
		}
		id, _, _ := strings.Cut(strings.TrimPrefix(g, "goroutine "), " ")
		stacks[id] = g
	}
	return stacks
}

func goroutineIDs() map[string]bool {
	ids := map[string]bool{}
	for id := range goroutineStacks() {
		ids[id] = true
	}
	return ids
}
