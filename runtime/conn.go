package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// The errors a call gets when the Conn no longer takes calls. Compare them
// with errors.Is, or switch on [status.Code].
var (
	// ErrShuttingDown is returned to calls made after Shutdown began.
	ErrShuttingDown = status.Error(codes.Unavailable, "lazyclient: the client is shutting down")
	// ErrClosed is returned to calls made after Close, as grpc does for a
	// closed ClientConn.
	ErrClosed = status.Error(codes.Canceled, "lazyclient: the client is closed")
)

// Conn is a lazily connected client connection. It is safe for concurrent
// use. Create it with [NewConn]; end it with [Conn.Shutdown] or [Conn.Close].
type Conn struct {
	cc      *grpc.ClientConn
	target  string
	cfg     config
	tracker *tracker
	metrics *metrics // nil unless WithMeterProvider was given

	bound   sync.Map // MethodDesc -> *Method, for the generated stubs
	dynamic sync.Map // full method name -> *Method, for Invoke and NewStream

	// needConnect is true while the channel was last seen IDLE and no call
	// has asked for a connection since. The state watcher sets it on every
	// IDLE, so the trigger is re-armed each time, never latched.
	needConnect atomic.Bool
	// callLost records that a call ended with codes.Unavailable since the
	// last READY: evidence, for WhileActive, that the connection was in use
	// when it broke, even if its calls ended before the state change was
	// seen.
	callLost atomic.Bool

	mu    sync.Mutex // guards the fields below
	state connState

	shuttingDown atomic.Bool
	closed       atomic.Bool
	closeOnce    sync.Once
	closeErr     error
	stopWatch    context.CancelFunc
}

// NewConn returns a Conn for target, in grpc's target syntax. It does no I/O:
// the channel starts IDLE and connects when the first call is made or
// [Conn.Connect] is called. Without transport credentials among the dial
// options it uses an insecure transport, for the loopback and in-cluster
// targets this is most often used with.
func NewConn(target string, opts ...Option) (*Conn, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	dialOpts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if sc := cfg.balancing.serviceConfig(&cfg); sc != "" {
		dialOpts = append(dialOpts, grpc.WithDefaultServiceConfig(sc))
	}
	dialOpts = append(dialOpts, cfg.dialOptions...)
	dialOpts = append(dialOpts, grpc.WithIdleTimeout(cfg.idleTimeout))
	cc, err := grpc.NewClient(target, dialOpts...)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "lazyclient: %v", err)
	}
	c := &Conn{
		cc:      cc,
		target:  target,
		cfg:     cfg,
		tracker: newTracker(),
	}
	if cfg.meterProvider != nil {
		if c.metrics, err = newMetrics(cfg.meterProvider, target); err != nil {
			cc.Close()
			return nil, err
		}
	}
	c.state = connState{current: connectivity.Idle, since: time.Now()}
	c.needConnect.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	c.stopWatch = cancel
	go c.watch(ctx)
	return c, nil
}

func (cfg *config) validate() error {
	switch {
	case cfg.reconnect < OnDemand || cfg.reconnect > Eager:
		return status.Errorf(codes.InvalidArgument, "lazyclient: unknown reconnect policy %d", cfg.reconnect)
	case cfg.balancing < PickFirst || cfg.balancing > RoundRobin:
		return status.Errorf(codes.InvalidArgument, "lazyclient: unknown load balancing policy %d", cfg.balancing)
	case cfg.idleTimeout < 0:
		return status.Errorf(codes.InvalidArgument, "lazyclient: negative idle timeout %v", cfg.idleTimeout)
	case cfg.jitter < 0:
		return status.Errorf(codes.InvalidArgument, "lazyclient: negative reconnect jitter %v", cfg.jitter)
	case cfg.logger == nil:
		return status.Error(codes.InvalidArgument, "lazyclient: nil logger")
	}
	return nil
}

// Target returns the target the Conn was created for.
func (c *Conn) Target() string { return c.target }

// ClientConn returns the underlying grpc.ClientConn. Calls made on it
// directly bypass the Conn's tracking and policy.
func (c *Conn) ClientConn() *grpc.ClientConn { return c.cc }

// Method binds d to c. Generated clients call it once per method, when they
// are created; binding the same description again returns the same Method.
func (c *Conn) Method(d *MethodDesc) *Method {
	if m, ok := c.bound.Load(*d); ok {
		return m.(*Method)
	}
	m, _ := c.bound.LoadOrStore(*d, newMethod(c, d))
	return m.(*Method)
}

// Active is the number of calls in flight: unary calls not yet returned and
// streams not yet finished. It is never negative.
func (c *Conn) Active() int { return c.tracker.inFlight() }

// State is the channel's connectivity state.
func (c *Conn) State() connectivity.State { return c.cc.GetState() }

// triggerConnect asks for a connection if the channel was last seen IDLE.
// grpc's pick_first would also connect when the call is picked; asking
// before dispatch makes the trigger independent of the balancer.
//
// A call whose context has already ended does not connect: grpc would leave
// idle mode, or wake pick_first, for it before noticing the context — a dial
// nobody needs. The context is looked at only when the channel is IDLE, off
// the hot path.
func (c *Conn) triggerConnect(ctx context.Context) {
	if c.needConnect.Load() && ctx.Err() == nil && c.needConnect.CompareAndSwap(true, false) {
		c.requestConnect(causeCall)
	}
}

// Connect starts connecting if the channel is IDLE and waits until it is
// READY. Under [RoundRobin] it also wakes the backends that dropped while
// the channel stayed READY, without waiting for them. It fails when ctx ends
// first, with codes.DeadlineExceeded or codes.Canceled and an error that
// errors.Is matches against ctx.Err(), or when the channel reports
// TRANSIENT_FAILURE, with codes.Unavailable; grpc goes on retrying with
// backoff in the background either way. After Shutdown or Close it returns
// [ErrShuttingDown] or [ErrClosed].
func (c *Conn) Connect(ctx context.Context) error {
	if c.tracker.draining() {
		return c.refusal()
	}
	for {
		s := c.cc.GetState()
		switch s {
		case connectivity.Ready:
			if c.cfg.balancing == RoundRobin {
				// A backend that dropped while others stayed READY is
				// IDLE until asked; the channel's Connect asks them all.
				c.cc.Connect()
			}
			return nil
		case connectivity.Idle:
			// Also after a spurious wake-up or a drop while waiting.
			c.requestConnect(causeConnect)
		case connectivity.TransientFailure:
			return status.Errorf(codes.Unavailable,
				"lazyclient: connect to %q: the last connection attempt failed and the channel is in TRANSIENT_FAILURE; grpc retries with backoff", c.target)
		case connectivity.Shutdown:
			return c.refusal()
		}
		if !c.cc.WaitForStateChange(ctx, s) {
			return contextError(ctx, fmt.Sprintf("lazyclient: connect to %q: still %v when the context ended", c.target, s))
		}
	}
}

// Shutdown drains the Conn: new calls fail at once with [ErrShuttingDown]
// while the calls in flight run to their end. It returns nil when the last
// one ends, or an error matching ctx.Err() if ctx ends first. Either way the
// connection is closed when Shutdown returns.
func (c *Conn) Shutdown(ctx context.Context) error {
	if !c.closed.Load() {
		c.shuttingDown.Store(true)
	}
	drained := c.tracker.drain()
	c.logger().LogAttrs(context.Background(), slog.LevelInfo, "lazyclient: shutdown started",
		slog.String("target", c.target), slog.Int("active", c.Active()))
	var err error
	select {
	case <-drained:
	case <-ctx.Done():
		select {
		case <-drained: // both at once: the drain is over, so it won
		default:
			n := c.Active()
			err = contextError(ctx, fmt.Sprintf("lazyclient: shutdown of %q: %d calls still in flight", c.target, n))
			c.logger().LogAttrs(context.Background(), slog.LevelWarn, "lazyclient: shutdown cut short",
				slog.String("target", c.target), slog.Int("active", n), slog.String("error", ctx.Err().Error()))
		}
	}
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close closes the connection at once. Calls in flight fail with
// codes.Canceled, and Active falls to 0 as they return; later calls fail
// with [ErrClosed]. Close is idempotent.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		c.tracker.drain()
		// Close does not wait for the watcher: a log handler that the
		// watcher is calling may be what called Close. What the watcher
		// records after this is dropped, since SHUTDOWN is final.
		c.stopWatch()
		c.stopPolicy()
		c.closeErr = c.cc.Close()
		c.recordTransition(connectivity.Shutdown, causeClose)
	})
	return c.closeErr
}

// refusal is the error for a call the Conn no longer takes.
func (c *Conn) refusal() error {
	if c.closed.Load() && !c.shuttingDown.Load() {
		return ErrClosed
	}
	return ErrShuttingDown
}

// contextError reports that ctx ended: a status error with ctx's code that
// also unwraps to ctx.Err().
func contextError(ctx context.Context, msg string) error {
	return &ctxError{status: status.FromContextError(ctx.Err()), msg: msg, cause: ctx.Err()}
}

type ctxError struct {
	status *status.Status
	msg    string
	cause  error
}

func (e *ctxError) Error() string { return e.msg + ": " + e.cause.Error() }
func (e *ctxError) Unwrap() error { return e.cause }

// GRPCStatus lets status.Code and status.FromError see the error's code.
func (e *ctxError) GRPCStatus() *status.Status {
	return status.New(e.status.Code(), e.Error())
}

// Invoke makes a unary call by name. With NewStream it makes a Conn a
// grpc.ClientConnInterface, so that stubs written for one, such as
// protoc-gen-go-grpc's, are tracked like the generated ones.
func (c *Conn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	return c.methodByName(method, Unary).invoke(ctx, args, reply, opts)
}

// NewStream opens a streaming call by name; see [Conn.Invoke].
func (c *Conn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	kind := ServerStreaming
	switch {
	case desc.ClientStreams && desc.ServerStreams:
		kind = BidiStreaming
	case desc.ClientStreams:
		kind = ClientStreaming
	}
	return c.methodByName(method, kind).newStream(ctx, new(streamCall), opts)
}

func (c *Conn) methodByName(name string, kind Kind) *Method {
	if m, ok := c.dynamic.Load(name); ok {
		return m.(*Method)
	}
	m, _ := c.dynamic.LoadOrStore(name, newMethod(c, &MethodDesc{FullMethod: name, Kind: kind}))
	return m.(*Method)
}

var _ grpc.ClientConnInterface = (*Conn)(nil)
