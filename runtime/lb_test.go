package runtime_test

import (
	"context"
	"testing"
	"time"

	"github.com/lazyclient/lazyclient/runtime"
	echov1 "github.com/lazyclient/lazyclient/testdata/gen/echo/v1"
	"github.com/lazyclient/lazyclient/testdata/gen/echo/v1/echov1lazy"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// servedBy makes n calls and counts them by the address that served them.
func servedBy(t *testing.T, ctx context.Context, client echov1lazy.EchoServiceClient, n int) map[string]int {
	t.Helper()
	by := map[string]int{}
	for range n {
		var p peer.Peer
		if _, err := client.Echo(ctx, &echov1.EchoRequest{}, grpc.Peer(&p)); err != nil {
			t.Fatalf("call: %v", err)
		}
		by[p.Addr.String()]++
	}
	return by
}

func TestPickFirstIsTheDefault(t *testing.T) {
	t.Parallel()
	a, b := startServer(t), startServer(t)
	var dials dialCounter
	_, target, withResolver := manualResolver(t, a.addr, b.addr)
	conn := newConn(t, target, &dials, withResolver)
	by := servedBy(t, testContext(t), echov1lazy.NewEchoServiceClient(conn), 10)
	if by[a.addr] != 10 || dials.count() != 1 || b.accepts.Load() != 0 {
		t.Errorf("calls served %v, dials %d, accepts by the second address %d; want all by %s, 1, 0",
			by, dials.count(), b.accepts.Load(), a.addr)
	}
}

// Under OnDemand, round_robin connects every backend when a call needs the
// channel, and re-dials a backend that dropped only when a later call is
// picked — grpc's own round_robin re-dials it at once.
func TestRoundRobinStaysLazy(t *testing.T) {
	t.Parallel()
	a, b := startServer(t), startServer(t)
	var dials dialCounter
	_, target, withResolver := manualResolver(t, a.addr, b.addr)
	conn := newConn(t, target, &dials, withResolver, runtime.WithLoadBalancing(runtime.RoundRobin), fastBackoff())
	client := echov1lazy.NewEchoServiceClient(conn)
	ctx := testContext(t)
	holdsFor(t, 500*time.Millisecond, "IDLE with no dial", func() bool {
		return conn.State() == connectivity.Idle && dials.count() == 0
	})

	if _, err := client.Echo(ctx, &echov1.EchoRequest{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "calls reach both backends", func() bool {
		by := servedBy(t, ctx, client, 10)
		return by[a.addr] > 0 && by[b.addr] > 0
	})

	a.restart(false)
	holdsFor(t, time.Second, "READY on one backend, no re-dial of the other", func() bool {
		return conn.State() == connectivity.Ready && dials.count() == 2 && a.accepts.Load() == 1
	})
	if _, err := client.Echo(ctx, &echov1.EchoRequest{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the call woke the dropped backend", func() bool { return dials.count() == 3 && a.accepts.Load() == 2 })
	waitUntil(t, "calls reach both backends again", func() bool {
		by := servedBy(t, ctx, client, 10)
		return by[a.addr] > 0 && by[b.addr] > 0
	})

	// Connect wakes a dropped backend too.
	a.restart(false)
	holdsFor(t, 500*time.Millisecond, "no re-dial of the dropped backend", func() bool {
		return conn.State() == connectivity.Ready && dials.count() == 3
	})
	if err := conn.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "Connect woke the dropped backend", func() bool { return dials.count() == 4 && a.accepts.Load() == 3 })

	a.restart(false)
	b.restart(false)
	waitForState(t, conn, connectivity.Idle)
	holdsFor(t, time.Second, "IDLE with no re-dial", func() bool {
		return conn.State() == connectivity.Idle && dials.count() == 4
	})
	if _, err := client.Echo(ctx, &echov1.EchoRequest{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "both backends connected again", func() bool { return a.accepts.Load() == 4 && b.accepts.Load() == 2 })
	if n := dials.count(); n != 6 {
		t.Errorf("dials = %d, want 6", n)
	}
}

// Under Eager, round_robin re-dials a backend that drops, after a random
// delay, without a call; it dials nothing before it is asked to connect.
func TestRoundRobinEagerRedialsABackend(t *testing.T) {
	t.Parallel()
	a, b := startServer(t), startServer(t)
	var dials dialCounter
	_, target, withResolver := manualResolver(t, a.addr, b.addr)
	conn := newConn(t, target, &dials, withResolver, runtime.WithLoadBalancing(runtime.RoundRobin),
		runtime.WithReconnect(runtime.Eager), runtime.WithReconnectJitter(testJitter))
	holdsFor(t, 500*time.Millisecond, "IDLE with no dial", func() bool {
		return conn.State() == connectivity.Idle && dials.count() == 0
	})
	if err := conn.Connect(testContext(t)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "calls reach both backends", func() bool {
		by := servedBy(t, testContext(t), echov1lazy.NewEchoServiceClient(conn), 10)
		return by[a.addr] > 0 && by[b.addr] > 0
	})
	a.restart(false)
	waitUntil(t, "the dropped backend is re-dialled", func() bool { return dials.count() == 3 && a.accepts.Load() == 2 })
	waitForState(t, conn, connectivity.Ready)
}

// Under Eager, a round_robin channel whose backends all drop re-dials each,
// and no more than once.
func TestRoundRobinEagerRedialsEveryBackendOnce(t *testing.T) {
	t.Parallel()
	a, b := startServer(t), startServer(t)
	var dials dialCounter
	_, target, withResolver := manualResolver(t, a.addr, b.addr)
	conn := newConn(t, target, &dials, withResolver, runtime.WithLoadBalancing(runtime.RoundRobin),
		runtime.WithReconnect(runtime.Eager), runtime.WithReconnectJitter(testJitter))
	if err := conn.Connect(testContext(t)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "calls reach both backends", func() bool {
		by := servedBy(t, testContext(t), echov1lazy.NewEchoServiceClient(conn), 10)
		return by[a.addr] > 0 && by[b.addr] > 0
	})
	a.restart(false)
	b.restart(false)
	waitUntil(t, "both backends re-dialled", func() bool { return a.accepts.Load() == 2 && b.accepts.Load() == 2 })
	waitForState(t, conn, connectivity.Ready)
	holdsFor(t, 2*testJitter, "one re-dial per backend", func() bool { return dials.count() == 4 })
}

// The lazy round_robin can be named in a service config, and its config is
// checked.
func TestRoundRobinInAServiceConfig(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	for cfg, ok := range map[string]bool{
		`{}`:                       true,
		`{"eagerJitter": "150ms"}`: true,
		`{"eagerJitter": "-1s"}`:   false,
		`{"eagerJitter": "soon"}`:  false,
		`{"eagerJitter": 3}`:       false,
	} {
		sc := `{"loadBalancingConfig": [{"` + runtime.RoundRobinBalancerName + `": ` + cfg + `}]}`
		conn, err := runtime.NewConn(srv.addr, runtime.WithDialOptions(grpc.WithDefaultServiceConfig(sc)))
		if !ok {
			if status.Code(err) != codes.InvalidArgument {
				t.Errorf("NewConn with %s: %v, want InvalidArgument", sc, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("NewConn with %s: %v", sc, err)
		}
		if _, err := echov1lazy.NewEchoServiceClient(conn).Echo(testContext(t), &echov1.EchoRequest{}); err != nil {
			t.Errorf("call through %s: %v", sc, err)
		}
		conn.Close()
	}
}
