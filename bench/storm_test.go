package bench

import (
	"context"
	"flag"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lazyclient/lazyclient/runtime"
	echov1 "github.com/lazyclient/lazyclient/testdata/gen/echo/v1"
	"github.com/lazyclient/lazyclient/testdata/gen/echo/v1/echov1lazy"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// The reconnect storm: many idle clients, each connected once, see their
// server restart. What each connection policy dials in the seconds after
// is what a server meets when it comes back.
//
// By default TestStorm is a quick smoke run with a few clients; -storm runs
// it at full size (scripts/bench.sh does), one policy at a time.
var (
	stormFull    = flag.Bool("storm", false, "run the reconnect storm at full size")
	stormClients = flag.Int("storm.clients", 1000, "clients in the full-size storm")
)

// stormSize is how big a storm run is and how long it watches.
type stormSize struct {
	clients int
	// jitter bounds the Eager policy's random delay before it re-dials.
	jitter time.Duration
	// downtime is how long the server is away between stop and start.
	downtime time.Duration
	// window is how long dials are watched for after the stop: past the
	// jitter and one round of grpc's connection backoff (1s, +20%).
	window time.Duration
}

const stormBucket = 100 * time.Millisecond

// stormScenario is one kind of client in the storm.
type stormScenario struct {
	name string
	// zeroDials is the product's promise for idle clients: no dial at all
	// after the restart.
	zeroDials bool
	// eager clients each dial again on their own after the restart.
	eager bool
	dial  func(target string, size stormSize, dialer grpc.DialOption) (echov1.EchoServiceClient, func() error, error)
}

func lazyScenario(name string, policy runtime.Reconnect) stormScenario {
	return stormScenario{
		name:      name,
		zeroDials: policy != runtime.Eager,
		eager:     policy == runtime.Eager,
		dial: func(target string, size stormSize, dialer grpc.DialOption) (echov1.EchoServiceClient, func() error, error) {
			conn, err := runtime.NewConn(target, runtime.WithReconnect(policy),
				runtime.WithReconnectJitter(size.jitter), runtime.WithDialOptions(dialer))
			if err != nil {
				return nil, nil, err
			}
			return echov1lazy.NewEchoServiceClient(conn), conn.Close, nil
		},
	}
}

func grpcScenario(name, serviceConfig string) stormScenario {
	return stormScenario{
		name: name,
		dial: func(target string, _ stormSize, dialer grpc.DialOption) (echov1.EchoServiceClient, func() error, error) {
			opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()), dialer}
			if serviceConfig != "" {
				opts = append(opts, grpc.WithDefaultServiceConfig(serviceConfig))
			}
			cc, err := grpc.NewClient(target, opts...)
			if err != nil {
				return nil, nil, err
			}
			return echov1.NewEchoServiceClient(cc), cc.Close, nil
		},
	}
}

func TestStorm(t *testing.T) {
	size := stormSize{clients: 10, jitter: 300 * time.Millisecond, downtime: 100 * time.Millisecond, window: 1500 * time.Millisecond}
	if *stormFull {
		size = stormSize{clients: *stormClients, jitter: runtime.DefaultReconnectJitter, downtime: 100 * time.Millisecond, window: 5 * time.Second}
		checkFileLimit(t, size.clients)
	}
	scenarios := []stormScenario{
		lazyScenario("lazy/on_demand", runtime.OnDemand),
		lazyScenario("lazy/while_active", runtime.WhileActive),
		lazyScenario("lazy/eager", runtime.Eager),
		grpcScenario("grpc/pick_first", ""),
		grpcScenario("grpc/round_robin", `{"loadBalancingConfig":[{"round_robin":{}}]}`),
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			if !*stormFull {
				// Small runs share the CPU harmlessly; full-size ones
				// would skew each other's timing.
				t.Parallel()
			}
			result := runStorm(t, sc, size)
			t.Log(result.report(sc.name, size))
			if sc.zeroDials && result.dials > 0 {
				t.Errorf("%d dials after the restart, want none from idle clients", result.dials)
			}
			if sc.eager && result.dials < size.clients {
				t.Errorf("%d dials after the restart, want at least one per client (%d)", result.dials, size.clients)
			}
		})
	}
}

// checkFileLimit fails early when the process cannot hold both ends of
// every client's connection. Go raises the soft limit to the hard one at
// start-up, so the soft limit is what is left to check.
func checkFileLimit(t *testing.T, clients int) {
	var limit syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &limit); err != nil {
		t.Fatalf("getrlimit: %v", err)
	}
	if need := uint64(2*clients + 256); limit.Cur < need {
		t.Fatalf("open-file limit is %d, the storm needs %d: raise it with ulimit -n", limit.Cur, need)
	}
}

type stormResult struct {
	dials   int             // dial attempts after the stop
	accepts int64           // connections the server accepted after the restart
	offsets []time.Duration // of each dial, from the stop
}

// runStorm connects size.clients clients of scenario sc, lets them go idle,
// restarts the server and counts the dials made within size.window of the
// stop. It returns when the window is over; the clients are closed when t
// ends.
func runStorm(t *testing.T, sc stormScenario, size stormSize) stormResult {
	srv := startRestartableServer(t)
	var dials dialRecorder
	dialer := grpc.WithContextDialer(dials.dial)
	clients := make([]echov1.EchoServiceClient, size.clients)
	for i := range clients {
		client, closeClient, err := sc.dial(srv.addr, size, dialer)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		t.Cleanup(func() { closeClient() })
		clients[i] = client
	}
	callAll(t, clients)
	if n := dials.before(); n != size.clients {
		t.Fatalf("%d dials to connect %d clients, want one each", n, size.clients)
	}

	dials.markStop()
	srv.stop()
	acceptsBefore := srv.accepts.Load()
	time.Sleep(size.downtime)
	srv.start()
	time.Sleep(size.window - size.downtime)
	offsets := dials.after()
	return stormResult{dials: len(offsets), accepts: srv.accepts.Load() - acceptsBefore, offsets: offsets}
}

// callAll makes one call through every client, a few dozen at a time, so
// that every client is connected and then idle.
func callAll(t *testing.T, clients []echov1.EchoServiceClient) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var failed atomic.Int64
	sem := make(chan struct{}, 32)
	for _, client := range clients {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if _, err := client.Echo(ctx, &echov1.EchoRequest{Message: "connect"}); err != nil {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d clients failed their first call", n, len(clients))
	}
}

// dialRecorder is a dialer that records when each dial happens, relative to
// the server's stop once markStop has been called.
type dialRecorder struct {
	mu           sync.Mutex
	stoppedAt    time.Time
	dialsBefore  int
	offsetsAfter []time.Duration
}

func (r *dialRecorder) dial(ctx context.Context, addr string) (net.Conn, error) {
	r.mu.Lock()
	if r.stoppedAt.IsZero() {
		r.dialsBefore++
	} else {
		r.offsetsAfter = append(r.offsetsAfter, time.Since(r.stoppedAt))
	}
	r.mu.Unlock()
	return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
}

func (r *dialRecorder) markStop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stoppedAt = time.Now()
}

func (r *dialRecorder) before() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dialsBefore
}

func (r *dialRecorder) after() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.offsetsAfter...)
}

// report is the result as text: the totals, then the dials per 100ms bucket
// from the stop, when there were any.
func (r stormResult) report(name string, size stormSize) string {
	var b strings.Builder
	fmt.Fprintf(&b, "storm %s: clients=%d downtime=%v window=%v dials=%d accepts=%d",
		name, size.clients, size.downtime, size.window, r.dials, r.accepts)
	if len(r.offsets) == 0 {
		return b.String()
	}
	first, last := r.offsets[0], r.offsets[0]
	buckets := make([]int, size.window/stormBucket+1)
	for _, d := range r.offsets {
		first, last = min(first, d), max(last, d)
		buckets[min(int(d/stormBucket), len(buckets)-1)]++
	}
	fmt.Fprintf(&b, " first=%v last=%v busiest_100ms=%d\n", first.Round(time.Millisecond), last.Round(time.Millisecond), slices.Max(buckets))
	fmt.Fprintf(&b, "  from_stop  dials\n")
	for i, n := range buckets {
		if n > 0 {
			fmt.Fprintf(&b, "  %4.1fs      %d\n", (time.Duration(i) * stormBucket).Seconds(), n)
		}
	}
	return b.String()
}

// restartableServer is an EchoService server on a fixed 127.0.0.1 port that
// can be stopped and started again, and that counts the connections it
// accepts.
type restartableServer struct {
	tb      testing.TB
	addr    string
	accepts atomic.Int64
	srv     *grpc.Server
}

func startRestartableServer(tb testing.TB) *restartableServer {
	tb.Helper()
	s := &restartableServer{tb: tb, addr: "127.0.0.1:0"}
	s.start()
	tb.Cleanup(s.stop)
	return s
}

// start serves on the server's address; after the first start that is the
// same port, so that the clients' target stays valid across restarts.
func (s *restartableServer) start() {
	s.tb.Helper()
	var lis net.Listener
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		// The port may be held for a moment after the last stop.
		if lis, err = net.Listen("tcp", s.addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		s.tb.Fatalf("listen on %s: %v", s.addr, err)
	}
	s.addr = lis.Addr().String()
	s.srv = grpc.NewServer()
	echov1.RegisterEchoServiceServer(s.srv, echoServer{})
	go s.srv.Serve(&countingListener{Listener: lis, accepts: &s.accepts})
}

// stop closes the listener and every connection at once, as a crash or a
// restart does.
func (s *restartableServer) stop() {
	if s.srv != nil {
		s.srv.Stop()
		s.srv = nil
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
