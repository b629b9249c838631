// Package policytest proves, against a real grpc-go server on 127.0.0.1,
// that the call policy declared with lazyclient's options in
// testdata/proto/policy/v1/policy.proto reaches the calls the generated
// stubs make.
package policytest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/lazyclient/lazyclient/runtime"
	policyv1 "github.com/lazyclient/lazyclient/testdata/gen/policy/v1"
	"github.com/lazyclient/lazyclient/testdata/gen/policy/v1/policyv1lazy"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The lazy clients drop in for protoc-gen-go-grpc's.
var (
	_ policyv1.SleepServiceClient = policyv1lazy.SleepServiceClient(nil)
	_ policyv1.PlainServiceClient = policyv1lazy.PlainServiceClient(nil)
)

// serviceTimeout is SleepService's timeout in policy.proto.
const serviceTimeout = 200 * time.Millisecond

// sleeper sleeps as long as a request asks, or until the call ends.
type sleeper struct {
	policyv1.UnimplementedSleepServiceServer
	policyv1.UnimplementedPlainServiceServer
}

func sleep(ctx context.Context, req *policyv1.SleepRequest) (*policyv1.SleepResponse, error) {
	select {
	case <-time.After(time.Duration(req.GetSleepMs()) * time.Millisecond):
		return &policyv1.SleepResponse{}, nil
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

func (sleeper) Sleep(ctx context.Context, req *policyv1.SleepRequest) (*policyv1.SleepResponse, error) {
	return sleep(ctx, req)
}

func (sleeper) SleepUnbounded(ctx context.Context, req *policyv1.SleepRequest) (*policyv1.SleepResponse, error) {
	return sleep(ctx, req)
}

func (sleeper) SleepLonger(ctx context.Context, req *policyv1.SleepRequest) (*policyv1.SleepResponse, error) {
	return sleep(ctx, req)
}

func (sleeper) FailFast(ctx context.Context, req *policyv1.SleepRequest) (*policyv1.SleepResponse, error) {
	return sleep(ctx, req)
}

func (sleeper) SleepBounded(ctx context.Context, req *policyv1.SleepRequest) (*policyv1.SleepResponse, error) {
	return sleep(ctx, req)
}

// Ticks sends a response at once, then sleeps before the second.
func (sleeper) Ticks(req *policyv1.SleepRequest, stream grpc.ServerStreamingServer[policyv1.SleepResponse]) error {
	if err := stream.Send(&policyv1.SleepResponse{}); err != nil {
		return err
	}
	if _, err := sleep(stream.Context(), req); err != nil {
		return err
	}
	return stream.Send(&policyv1.SleepResponse{})
}

// serve starts a server for both services on lis and stops it when the test
// ends.
func serve(t *testing.T, lis net.Listener) {
	t.Helper()
	srv := grpc.NewServer()
	policyv1.RegisterSleepServiceServer(srv, sleeper{})
	policyv1.RegisterPlainServiceServer(srv, sleeper{})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
}

func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return lis
}

// dial returns a Conn to addr whose reconnect backoff is short, so that a
// test waiting for a server that comes up late does not wait grpc's default
// second.
func dial(t *testing.T, addr string) *runtime.Conn {
	t.Helper()
	conn, err := runtime.NewConn(addr, runtime.WithDialOptions(grpc.WithConnectParams(grpc.ConnectParams{
		Backoff:           backoff.Config{BaseDelay: 20 * time.Millisecond, Multiplier: 1, MaxDelay: 20 * time.Millisecond},
		MinConnectTimeout: time.Second,
	})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// started serves on a fresh port and returns a Conn to it.
func started(t *testing.T) *runtime.Conn {
	t.Helper()
	lis := listen(t, "127.0.0.1:0")
	serve(t, lis)
	return dial(t, lis.Addr().String())
}

// stopped returns the address of a port nobody serves, for now.
func stopped(t *testing.T) string {
	t.Helper()
	lis := listen(t, "127.0.0.1:0")
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

// timed runs call and returns its status code and how long it took.
func timed(call func() error) (codes.Code, time.Duration) {
	start := time.Now()
	err := call()
	return status.Code(err), time.Since(start)
}

func TestMethodDescsCarryThePolicy(t *testing.T) {
	tests := []struct {
		name string
		got  runtime.MethodDesc
		want runtime.MethodDesc
	}{
		{"service policy", policyv1lazy.SleepService_Sleep_MethodDesc, runtime.MethodDesc{
			FullMethod: "/policy.v1.SleepService/Sleep", Kind: runtime.Unary,
			WaitForReady: true, Timeout: serviceTimeout, Idempotency: runtime.Idempotent,
		}},
		{"zero timeout lifts the service's", policyv1lazy.SleepService_SleepUnbounded_MethodDesc, runtime.MethodDesc{
			FullMethod: "/policy.v1.SleepService/SleepUnbounded", Kind: runtime.Unary, WaitForReady: true,
		}},
		{"method timeout", policyv1lazy.SleepService_SleepLonger_MethodDesc, runtime.MethodDesc{
			FullMethod: "/policy.v1.SleepService/SleepLonger", Kind: runtime.Unary, WaitForReady: true, Timeout: 90 * time.Second,
		}},
		{"method turns wait-for-ready off", policyv1lazy.SleepService_FailFast_MethodDesc, runtime.MethodDesc{
			FullMethod: "/policy.v1.SleepService/FailFast", Kind: runtime.Unary, Timeout: serviceTimeout, Idempotency: runtime.NoSideEffects,
		}},
		{"stream, deprecated", policyv1lazy.SleepService_Ticks_MethodDesc, runtime.MethodDesc{
			FullMethod: "/policy.v1.SleepService/Ticks", Kind: runtime.ServerStreaming,
			WaitForReady: true, Timeout: serviceTimeout, Deprecated: true,
		}},
		{"no policy", policyv1lazy.PlainService_Sleep_MethodDesc, runtime.MethodDesc{
			FullMethod: "/policy.v1.PlainService/Sleep", Kind: runtime.Unary,
		}},
		{"method policy only", policyv1lazy.PlainService_SleepBounded_MethodDesc, runtime.MethodDesc{
			FullMethod: "/policy.v1.PlainService/SleepBounded", Kind: runtime.Unary, WaitForReady: true, Timeout: 1500 * time.Millisecond,
		}},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, tt.got, tt.want)
		}
	}
}

func TestTimeoutEndsASleepingCall(t *testing.T) {
	client := policyv1lazy.NewSleepServiceClient(started(t))
	code, took := timed(func() error {
		_, err := client.Sleep(context.Background(), &policyv1.SleepRequest{SleepMs: 10_000})
		return err
	})
	if code != codes.DeadlineExceeded || took < serviceTimeout || took > serviceTimeout+time.Second {
		t.Errorf("Sleep(10s) = %v after %v, want DeadlineExceeded after %v", code, took, serviceTimeout)
	}
	// A call that ends in time is not touched.
	if _, err := client.Sleep(context.Background(), &policyv1.SleepRequest{SleepMs: 10}); err != nil {
		t.Errorf("Sleep(10ms): %v", err)
	}
}

func TestTimeoutEndsAStream(t *testing.T) {
	client := policyv1lazy.NewSleepServiceClient(started(t))
	start := time.Now()
	//lint:ignore SA1019 Ticks is deprecated in policy.proto to cover the Deprecated field; calling it is the point.
	stream, err := client.Ticks(context.Background(), &policyv1.SleepRequest{SleepMs: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatalf("first Recv: %v", err)
	}
	_, err = stream.Recv()
	if took := time.Since(start); status.Code(err) != codes.DeadlineExceeded || took > serviceTimeout+time.Second {
		t.Errorf("second Recv = %v after %v, want DeadlineExceeded after %v", err, took, serviceTimeout)
	}
}

func TestMethodOverridesTheServiceTimeout(t *testing.T) {
	conn := started(t)
	client := policyv1lazy.NewSleepServiceClient(conn)
	// Twice the service's timeout: only a method without it gets through.
	req := &policyv1.SleepRequest{SleepMs: (2 * serviceTimeout).Milliseconds()}
	if _, err := client.SleepUnbounded(context.Background(), req); err != nil {
		t.Errorf("SleepUnbounded (zero timeout): %v", err)
	}
	if _, err := client.SleepLonger(context.Background(), req); err != nil {
		t.Errorf("SleepLonger (90s): %v", err)
	}
	if code, _ := timed(func() error { _, err := client.Sleep(context.Background(), req); return err }); code != codes.DeadlineExceeded {
		t.Errorf("Sleep (the service's 200ms) = %v, want DeadlineExceeded", code)
	}
	plain := policyv1lazy.NewPlainServiceClient(conn)
	if _, err := plain.Sleep(context.Background(), req); err != nil {
		t.Errorf("PlainService.Sleep (no policy): %v", err)
	}
}

func TestEarlierCallerDeadlineWins(t *testing.T) {
	client := policyv1lazy.NewSleepServiceClient(started(t))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	code, took := timed(func() error {
		_, err := client.SleepLonger(ctx, &policyv1.SleepRequest{SleepMs: 10_000})
		return err
	})
	if code != codes.DeadlineExceeded || took > time.Second {
		t.Errorf("SleepLonger (90s) under a 50ms deadline = %v after %v, want DeadlineExceeded after 50ms", code, took)
	}
}

// A later deadline wins too: the policy's timeout is a default for calls
// without a deadline, not a limit on the caller's.
func TestLaterCallerDeadlineWins(t *testing.T) {
	client := policyv1lazy.NewSleepServiceClient(started(t))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	const sleep = 3 * serviceTimeout
	code, took := timed(func() error {
		_, err := client.Sleep(ctx, &policyv1.SleepRequest{SleepMs: sleep.Milliseconds()})
		return err
	})
	if code != codes.OK || took < sleep {
		t.Errorf("Sleep (%v default) for %v under a 5s deadline = %v after %v, want OK after %v", serviceTimeout, sleep, code, took, sleep)
	}
}

// queuedUntilServed starts call while nobody serves addr, checks that it is
// still waiting a while later, then serves addr and expects the call to
// succeed.
func queuedUntilServed(t *testing.T, addr, what string, call func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		t.Fatalf("%s returned %v with the server stopped, want it to wait", what, err)
	case <-time.After(300 * time.Millisecond):
	}
	serve(t, listen(t, addr))
	if err := <-done; err != nil {
		t.Errorf("%s after the server started: %v", what, err)
	}
}

func TestWaitForReadyQueuesUntilTheServerStarts(t *testing.T) {
	addr := stopped(t)
	conn := dial(t, addr)
	client := policyv1lazy.NewSleepServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// Without wait-for-ready a call fails at once while nobody listens.
	if code, took := timed(func() error { _, err := client.FailFast(ctx, &policyv1.SleepRequest{}); return err }); code != codes.Unavailable || took > time.Second {
		t.Fatalf("FailFast with the server stopped = %v after %v, want Unavailable at once", code, took)
	}
	// SleepUnbounded waits for ready (the service's policy) and has no
	// timeout of its own, so it queues until the server comes up.
	queuedUntilServed(t, addr, "SleepUnbounded", func() error {
		_, err := client.SleepUnbounded(ctx, &policyv1.SleepRequest{})
		return err
	})
}

func TestCallerCallOptionWins(t *testing.T) {
	addr := stopped(t)
	conn := dial(t, addr)
	client := policyv1lazy.NewSleepServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// The service waits for ready; the caller says not to.
	code, took := timed(func() error {
		_, err := client.SleepUnbounded(ctx, &policyv1.SleepRequest{}, grpc.WaitForReady(false))
		return err
	})
	if code != codes.Unavailable || took > time.Second {
		t.Fatalf("SleepUnbounded with WaitForReady(false) = %v after %v, want Unavailable at once", code, took)
	}
	// The method fails fast (it has no policy); the caller asks to wait.
	plain := policyv1lazy.NewPlainServiceClient(conn)
	queuedUntilServed(t, addr, "PlainService.Sleep with WaitForReady(true)", func() error {
		_, err := plain.Sleep(ctx, &policyv1.SleepRequest{}, grpc.WaitForReady(true))
		return err
	})
}

// While waiting for ready, a call is still bounded by the policy's timeout.
func TestWaitForReadyIsBoundedByTheTimeout(t *testing.T) {
	client := policyv1lazy.NewSleepServiceClient(dial(t, stopped(t)))
	code, took := timed(func() error {
		_, err := client.Sleep(context.Background(), &policyv1.SleepRequest{})
		return err
	})
	if code != codes.DeadlineExceeded || took < serviceTimeout || took > serviceTimeout+time.Second {
		t.Errorf("Sleep with the server stopped = %v after %v, want DeadlineExceeded after %v of waiting", code, took, serviceTimeout)
	}
}
