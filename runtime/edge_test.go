package runtime_test

import (
	"context"
	"log/slog"
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

// rejectingSend is a stream an interceptor hands back that refuses every
// message before grpc sees it, as client-side validation would.
type rejectingSend struct{ grpc.ClientStream }

func (rejectingSend) SendMsg(any) error {
	return status.Error(codes.InvalidArgument, "rejected by the interceptor")
}

// A server-streaming request refused before it was sent ends the call with
// that error at once, instead of leaving the server waiting for it.
func TestServerStreamSendRejectedByAnInterceptor(t *testing.T) {
	srv := startServer(t)
	var dials dialCounter
	conn := newConn(t, srv.addr, &dials, runtime.WithDialOptions(grpc.WithStreamInterceptor(
		func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			s, err := streamer(ctx, desc, cc, method, opts...)
			if err != nil {
				return nil, err
			}
			return rejectingSend{s}, nil
		})))
	_, err := echov1lazy.NewEchoServiceClient(conn).ServerStream(testContext(t), &echov1.ServerStreamRequest{Count: 1})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("ServerStream = %v, want the interceptor's InvalidArgument", err)
	}
	waitUntil(t, "Active() == 0", func() bool { return conn.Active() == 0 })
}

// A panic in the interceptor chain goes on to the caller, and the call does
// not stay counted.
func TestPanicWhileDispatchingEndsTheCall(t *testing.T) {
	srv := startServer(t)
	var dials dialCounter
	conn := newConn(t, srv.addr, &dials, runtime.WithDialOptions(
		grpc.WithStreamInterceptor(func(context.Context, *grpc.StreamDesc, *grpc.ClientConn, string, grpc.Streamer, ...grpc.CallOption) (grpc.ClientStream, error) {
			panic("stream interceptor")
		}),
		grpc.WithUnaryInterceptor(func(context.Context, string, any, any, *grpc.ClientConn, grpc.UnaryInvoker, ...grpc.CallOption) error {
			panic("unary interceptor")
		})))
	client := echov1lazy.NewEchoServiceClient(conn)
	for name, call := range map[string]func(){
		"unary":  func() { client.Echo(testContext(t), &echov1.EchoRequest{}) },
		"stream": func() { client.Bidi(testContext(t)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: the panic did not reach the caller", name)
				}
			}()
			call()
		}()
		if n := conn.Active(); n != 0 {
			t.Errorf("Active() after a %s call panicked = %d, want 0", name, n)
		}
	}
}

// closingHandler closes the Conn from the first record it handles.
type closingHandler struct {
	conn   chan *runtime.Conn
	closed chan error
}

func (h closingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h closingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h closingHandler) WithGroup(string) slog.Handler            { return h }
func (h closingHandler) Handle(context.Context, slog.Record) error {
	select {
	case conn := <-h.conn:
		h.closed <- conn.Close()
	default:
	}
	return nil
}

// Close called from a log handler, which runs on the Conn's own watcher,
// returns, and so does every later Close.
func TestCloseFromALogHandler(t *testing.T) {
	srv := startServer(t)
	h := closingHandler{conn: make(chan *runtime.Conn, 1), closed: make(chan error, 1)}
	var dials dialCounter
	conn := newConn(t, srv.addr, &dials, runtime.WithLogger(slog.New(h)))
	h.conn <- conn
	go conn.Connect(context.Background())
	select {
	case err := <-h.closed:
		if err != nil {
			t.Errorf("Close from the handler: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close from the log handler did not return")
	}
	done := make(chan struct{})
	go func() { conn.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a second Close did not return")
	}
	if got := conn.Stats().State; got != connectivity.Shutdown {
		t.Errorf("Stats().State after Close = %v, want SHUTDOWN", got)
	}
}

// A Conn quiet for longer than its idle timeout, then connected by Connect
// alone, reads a drop as a drop, not as the idle timeout: grpc restarted its
// idle timer when it connected, and so does the Conn.
func TestDropAfterConnectOnAQuietConn(t *testing.T) {
	srv := startServer(t)
	var dials dialCounter
	conn := newConn(t, srv.addr, &dials, runtime.WithIdleTimeout(time.Second),
		runtime.WithReconnect(runtime.Eager), runtime.WithReconnectJitter(0), fastBackoff())
	time.Sleep(1500 * time.Millisecond)
	if err := conn.Connect(testContext(t)); err != nil {
		t.Fatal(err)
	}
	waitForState(t, conn, connectivity.Ready)
	srv.restart(false)
	waitUntil(t, "the Conn counts the drop", func() bool { return conn.Stats().Drops == 1 })
	waitUntil(t, "Eager re-dials", func() bool { return dials.count() == 2 })
	waitForState(t, conn, connectivity.Ready)
}
