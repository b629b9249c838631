package runtime_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lazyclient/lazyclient/runtime"
	echov1 "github.com/lazyclient/lazyclient/testdata/gen/echo/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
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
type testServer struct {
	t       testing.TB
	addr    string
	accepts atomic.Int64

	mu  sync.Mutex
	srv *grpc.Server
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

// start serves on the server's address; after the first start that is the
// same port, so a client's target stays valid across restarts.
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
	srv := grpc.NewServer()
	echov1.RegisterEchoServiceServer(srv, echoServer{})
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go srv.Serve(&countingListener{Listener: lis, accepts: &s.accepts})
}

// stop closes every connection at once.
func (s *testServer) stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Stop()
	}
}

type countingListener struct {
	net.Listener
	accepts *atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepts.Add(1)
	}
	return c, err
}

// dialCounter is a grpc.WithContextDialer that counts every dial.
type dialCounter struct{ n atomic.Int64 }

func (d *dialCounter) dial(ctx context.Context, addr string) (net.Conn, error) {
	d.n.Add(1)
	return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
}

func (d *dialCounter) count() int64 { return d.n.Load() }

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

// waitForState waits until conn reports want, failing the test after 10s.
func waitForState(t testing.TB, conn *runtime.Conn, want connectivity.State) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for s := conn.State(); s != want; s = conn.State() {
		if !conn.ClientConn().WaitForStateChange(ctx, s) {
			t.Fatalf("state is %v after 10s, want %v", s, want)
		}
	}
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
