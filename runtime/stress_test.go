package runtime_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/lazyclient/lazyclient/runtime"
	"github.com/lazyclient/lazyclient/testdata/gen/echo/v1/echov1lazy"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestStress makes random calls of every kind, some abandoned, under random
// server drops, GOAWAYs and outages, for a fixed number of rounds under each
// policy. At the end every call has returned, none is still counted, and no
// goroutine is left behind. It is not parallel: the goroutine check counts
// every goroutine in the process.
func TestStress(t *testing.T) {
	for _, p := range allPolicies {
		t.Run(p.String(), func(t *testing.T) { stress(t, p, runtime.PickFirst) })
	}
	for _, p := range []runtime.Reconnect{runtime.OnDemand, runtime.Eager} {
		t.Run(p.String()+"/round_robin", func(t *testing.T) { stress(t, p, runtime.RoundRobin) })
	}
}

func stress(t *testing.T, policy runtime.Reconnect, balancing runtime.Balancing) {
	checkGoroutines(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	servers := []*testServer{startServer(t)}
	target := servers[0].addr
	opts := []runtime.Option{runtime.WithReconnect(policy), runtime.WithLoadBalancing(balancing),
		runtime.WithReconnectJitter(50 * time.Millisecond), runtime.WithIdleTimeout(300 * time.Millisecond), fastBackoff()}
	if balancing == runtime.RoundRobin {
		servers = append(servers, startServer(t))
		var withResolver runtime.Option
		_, target, withResolver = manualResolver(t, servers[0].addr, servers[1].addr)
		opts = append(opts, withResolver)
	}
	conn := newConn(t, target, &dialCounter{}, opts...)
	client := echov1lazy.NewEchoServiceClient(conn)

	const rounds, callsPerRound = 40, 30
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		returned int
		codesBy  = map[codes.Code]int{}
	)
	for range rounds {
		for range callsPerRound {
			kind := runtime.Kind(rng.IntN(5)) // 4: a stream abandoned to its context
			timeout := time.Duration(5+rng.IntN(300)) * time.Millisecond
			sleep := time.Duration(rng.IntN(20)) * time.Millisecond
			var opts []grpc.CallOption
			if rng.IntN(2) == 0 {
				opts = append(opts, grpc.WaitForReady(true))
			}
			cancelAfter := time.Duration(-1)
			if rng.IntN(4) == 0 {
				cancelAfter = time.Duration(rng.Int64N(int64(timeout)))
			}
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				defer cancel()
				if cancelAfter >= 0 {
					timer := time.AfterFunc(cancelAfter, cancel)
					defer timer.Stop()
				}
				var err error
				if kind == 4 {
					_, err = client.Bidi(ctx, opts...)
				} else {
					err = roundTrip(ctx, client, kind, sleep, opts...)
				}
				mu.Lock()
				returned++
				codesBy[status.Code(err)]++
				mu.Unlock()
			})
		}
		time.Sleep(time.Duration(rng.IntN(60)) * time.Millisecond)
		srv := servers[rng.IntN(len(servers))]
		switch rng.IntN(5) {
		case 0:
			srv.restart(false)
		case 1:
			srv.restart(true)
		case 2:
			srv.stop()
			time.Sleep(time.Duration(rng.IntN(100)) * time.Millisecond)
			srv.start()
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("calls still running 30s after the last round")
	}
	t.Logf("outcomes by code: %v", codesBy)
	for c := range codesBy {
		switch c {
		case codes.OK, codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		default:
			t.Errorf("%d calls ended with %v, want only OK, Unavailable, DeadlineExceeded or Canceled", codesBy[c], c)
		}
	}
	if returned != rounds*callsPerRound {
		t.Errorf("%d calls returned, want %d", returned, rounds*callsPerRound)
	}
	waitUntil(t, "Active() == 0", func() bool { return conn.Active() == 0 })
	if st := conn.Stats(); st.Started != rounds*callsPerRound || st.Finished != st.Started || len(st.ActiveByMethod) != 0 {
		t.Errorf("Stats started/finished/by method = %d/%d/%v, want %d/%d/[]",
			st.Started, st.Finished, st.ActiveByMethod, rounds*callsPerRound, rounds*callsPerRound)
	}
}
