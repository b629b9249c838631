package runtime_test

import (
	"context"
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
	"google.golang.org/protobuf/types/known/emptypb"
)

// The lazy client is a drop-in for protoc-gen-go-grpc's.
var _ echov1.EchoServiceClient = echov1lazy.EchoServiceClient(nil)

func TestNewConnDoesNoIO(t *testing.T) {
	srv := startServer(t)
	var dials dialCounter
	conn := newConn(t, srv.addr, &dials)
	if got := conn.State(); got != connectivity.Idle {
		t.Fatalf("state after NewConn = %v, want IDLE", got)
	}
	holdsFor(t, time.Second, "no dial, no accept, IDLE", func() bool {
		return dials.count() == 0 && srv.accepts.Load() == 0 && conn.State() == connectivity.Idle
	})
}

func TestAllKindsThroughARealServer(t *testing.T) {
	srv := startServer(t)
	var dials dialCounter
	conn := newConn(t, srv.addr, &dials)
	client := echov1lazy.NewEchoServiceClient(conn)
	ctx := testContext(t)

	res, err := client.Echo(ctx, &echov1.EchoRequest{Message: "unary"})
	if err != nil || res.GetMessage() != "unary" {
		t.Fatalf("Echo = %v, %v; want unary", res, err)
	}
	if _, err := client.Ping(ctx, &emptypb.Empty{}); err != nil {
		t.Fatalf("Ping: %v", err)
	}

	ss, err := client.ServerStream(ctx, &echov1.ServerStreamRequest{Message: "s", Count: 3})
	if err != nil {
		t.Fatalf("ServerStream: %v", err)
	}
	var got int
	for {
		_, err := ss.Recv()
		if isEOF(err) {
			break
		}
		if err != nil {
			t.Fatalf("ServerStream Recv: %v", err)
		}
		got++
	}
	if got != 3 {
		t.Errorf("ServerStream sent %d messages, want 3", got)
	}

	cs, err := client.ClientStream(ctx)
	if err != nil {
		t.Fatalf("ClientStream: %v", err)
	}
	for _, m := range []string{"a", "b", "c"} {
		if err := cs.Send(&echov1.EchoRequest{Message: m}); err != nil {
			t.Fatalf("ClientStream Send: %v", err)
		}
	}
	if res, err := cs.CloseAndRecv(); err != nil || res.GetMessage() != "a b c" {
		t.Fatalf("ClientStream CloseAndRecv = %v, %v; want \"a b c\"", res, err)
	}

	bidi, err := client.Bidi(ctx)
	if err != nil {
		t.Fatalf("Bidi: %v", err)
	}
	for _, m := range []string{"x", "y"} {
		if err := bidi.Send(&echov1.EchoRequest{Message: m}); err != nil {
			t.Fatalf("Bidi Send: %v", err)
		}
		if res, err := bidi.Recv(); err != nil || res.GetMessage() != m {
			t.Fatalf("Bidi Recv = %v, %v; want %q", res, err, m)
		}
	}
	if err := bidi.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := bidi.Recv(); !isEOF(err) {
		t.Fatalf("Bidi Recv after CloseSend = %v, want io.EOF", err)
	}

	waitUntil(t, "Active() == 0", func() bool { return conn.Active() == 0 })
	st := conn.Stats()
	if st.Started != 5 || st.Finished != 5 || st.Active != 0 {
		t.Errorf("Stats started/finished/active = %d/%d/%d, want 5/5/0", st.Started, st.Finished, st.Active)
	}
	if n := dials.count(); n != 1 {
		t.Errorf("dials = %d, want 1", n)
	}
}

func TestActiveIsExactWhileCallsRun(t *testing.T) {
	srv := startServer(t)
	var dials dialCounter
	conn := newConn(t, srv.addr, &dials)
	client := echov1lazy.NewEchoServiceClient(conn)
	ctx := testContext(t)

	// One call of each kind held open.
	unaryDone := make(chan error, 1)
	go func() {
		_, err := client.Echo(ctx, &echov1.EchoRequest{SleepMs: 60_000})
		unaryDone <- err
	}()
	sctx, cancelServer := context.WithCancel(ctx)
	ss, err := client.ServerStream(sctx, &echov1.ServerStreamRequest{Count: 1, HoldOpen: true})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := client.ClientStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bidi, err := client.Bidi(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "4 calls active", func() bool { return conn.Active() == 4 })
	st := conn.Stats()
	for _, m := range []string{"Echo", "ServerStream", "ClientStream", "Bidi"} {
		if n := st.ActiveByMethod["/echo.v1.EchoService/"+m]; n != 1 {
			t.Errorf("ActiveByMethod[%s] = %d, want 1", m, n)
		}
	}

	// A server stream whose caller never reads to the end ends with its
	// context.
	if _, err := ss.Recv(); err != nil {
		t.Fatal(err)
	}
	cancelServer()
	waitUntil(t, "3 calls active", func() bool { return conn.Active() == 3 })

	if _, err := cs.CloseAndRecv(); err != nil {
		t.Fatal(err)
	}
	if conn.Active() != 2 {
		t.Errorf("Active() after CloseAndRecv = %d, want 2", conn.Active())
	}
	bidi.CloseSend()
	if _, err := bidi.Recv(); !isEOF(err) {
		t.Fatalf("Bidi Recv = %v, want io.EOF", err)
	}
	if conn.Active() != 1 {
		t.Errorf("Active() after bidi EOF = %d, want 1", conn.Active())
	}
	conn.Close()
	if err := <-unaryDone; status.Code(err) != codes.Canceled {
		t.Errorf("unary in flight at Close: %v, want Canceled", err)
	}
	if conn.Active() != 0 {
		t.Errorf("Active() after Close = %d, want 0", conn.Active())
	}
}

func TestStreamCreationFailureDeregisters(t *testing.T) {
	srv := startServer(t)
	var dials dialCounter
	conn := newConn(t, srv.addr, &dials)
	client := echov1lazy.NewEchoServiceClient(conn)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := client.Bidi(ctx); status.Code(err) != codes.Canceled {
		t.Errorf("Bidi on a cancelled context: %v, want Canceled", err)
	}
	if _, err := client.ServerStream(ctx, &echov1.ServerStreamRequest{}); status.Code(err) != codes.Canceled {
		t.Errorf("ServerStream on a cancelled context: %v, want Canceled", err)
	}
	if _, err := client.Echo(ctx, &echov1.EchoRequest{}); status.Code(err) != codes.Canceled {
		t.Errorf("Echo on a cancelled context: %v, want Canceled", err)
	}
	st := conn.Stats()
	if st.Active != 0 || st.Started != 3 || st.Finished != 3 {
		t.Errorf("Stats active/started/finished = %d/%d/%d, want 0/3/3", st.Active, st.Started, st.Finished)
	}
}

// dropAfterACall connects conn with a call, then stops the server, waits
// until the Conn has seen the drop, and starts the server again.
func dropAfterACall(t *testing.T, srv *testServer, conn *runtime.Conn, client echov1lazy.EchoServiceClient) {
	t.Helper()
	if _, err := client.Echo(testContext(t), &echov1.EchoRequest{}); err != nil {
		t.Fatalf("first call: %v", err)
	}
	waitForState(t, conn, connectivity.Ready)
	srv.stop()
	waitForState(t, conn, connectivity.Idle)
	srv.start()
}

func TestA62NoDialAfterDropUntilACall(t *testing.T) {
	srv := startServer(t)
	var dials dialCounter
	conn := newConn(t, srv.addr, &dials)
	client := echov1lazy.NewEchoServiceClient(conn)
	ctx := testContext(t)

	dropAfterACall(t, srv, conn, client)
	holdsFor(t, 1500*time.Millisecond, "IDLE with the first dial and accept only", func() bool {
		return conn.State() == connectivity.Idle && dials.count() == 1 && srv.accepts.Load() == 1
	})

	if _, err := client.Echo(ctx, &echov1.EchoRequest{Message: "again"}); err != nil {
		t.Fatalf("call after the drop: %v", err)
	}
	if n, a := dials.count(), srv.accepts.Load(); n != 2 || a != 2 {
		t.Errorf("dials, accepts after the next call = %d, %d; want 2, 2", n, a)
	}
	if st := conn.Stats(); st.Drops != 1 {
		t.Errorf("Stats().Drops = %d, want 1", st.Drops)
	}
}

func TestBurstAfterIdleDropSharesOneDial(t *testing.T) {
	srv := startServer(t)
	var dials dialCounter
	conn := newConn(t, srv.addr, &dials)
	client := echov1lazy.NewEchoServiceClient(conn)
	ctx := testContext(t)

	dropAfterACall(t, srv, conn, client)

	const burst = 200
	var wg sync.WaitGroup
	errs := make(chan error, burst)
	for range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := client.Echo(ctx, &echov1.EchoRequest{}, grpc.WaitForReady(true))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("call in the burst: %v", err)
		}
	}
	if n := dials.count(); n != 2 {
		t.Errorf("dials = %d, want 2 (one before the drop, one for the burst)", n)
	}
	if conn.Active() != 0 {
		t.Errorf("Active() = %d, want 0", conn.Active())
	}
}
