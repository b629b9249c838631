package runtime

import (
	"context"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Kind is how a method streams.
type Kind uint8

// The four kinds of gRPC method.
const (
	Unary Kind = iota
	ServerStreaming
	ClientStreaming
	BidiStreaming
)

// String returns the kind as it appears in metrics: "unary",
// "server_streaming", "client_streaming" or "bidi_streaming".
func (k Kind) String() string {
	switch k {
	case Unary:
		return "unary"
	case ServerStreaming:
		return "server_streaming"
	case ClientStreaming:
		return "client_streaming"
	case BidiStreaming:
		return "bidi_streaming"
	}
	return "unknown"
}

// Idempotency is the standard idempotency_level option of a method.
type Idempotency uint8

// The levels of google.protobuf.MethodOptions.IdempotencyLevel.
const (
	IdempotencyUnknown Idempotency = iota
	NoSideEffects
	Idempotent
)

// String returns the level as the .proto spells it.
func (i Idempotency) String() string {
	switch i {
	case NoSideEffects:
		return "NO_SIDE_EFFECTS"
	case Idempotent:
		return "IDEMPOTENT"
	}
	return "IDEMPOTENCY_UNKNOWN"
}

// MethodDesc describes one RPC method: its name and kind, and the call policy
// declared for it in the .proto. Generated code declares one per method;
// treat it as read-only.
type MethodDesc struct {
	// FullMethod is the method's name on the wire: "/package.Service/Method".
	FullMethod string
	// Kind is how the method streams.
	Kind Kind
	// WaitForReady makes calls wait for a READY connection instead of
	// failing fast while the channel is in TRANSIENT_FAILURE. A
	// grpc.WaitForReady option given by the caller wins.
	WaitForReady bool
	// Timeout, when positive, is the deadline of calls whose context has
	// none. A deadline the caller sets wins, sooner or later.
	Timeout time.Duration
	// Idempotency is the method's idempotency_level option.
	Idempotency Idempotency
	// Deprecated reports whether the .proto marks the method, or its
	// service, deprecated.
	Deprecated bool
}

// Method is a [MethodDesc] bound to a [Conn] by [Conn.Method]. It holds the
// method's active-call count and the call options derived from its policy,
// so that a call pays for neither a lookup nor an allocation.
type Method struct {
	conn       *Conn
	desc       MethodDesc
	streamDesc grpc.StreamDesc
	// callOptions lead every call's options, so that the caller's come last
	// and win.
	callOptions []grpc.CallOption
	active      atomic.Int64
	started     atomic.Uint64
	// metricOptions is built once, so that passing it to Add does not
	// allocate a variadic slice on every call.
	metricOptions []metric.AddOption
}

func newMethod(c *Conn, d *MethodDesc) *Method {
	m := &Method{
		conn: c,
		desc: *d,
		streamDesc: grpc.StreamDesc{
			StreamName:    d.FullMethod,
			ServerStreams: d.Kind == ServerStreaming || d.Kind == BidiStreaming,
			ClientStreams: d.Kind == ClientStreaming || d.Kind == BidiStreaming,
		},
		// StaticMethod keeps grpc's own metrics labelled by method, as
		// protoc-gen-go-grpc's stubs do.
		callOptions: []grpc.CallOption{grpc.StaticMethod()},
	}
	if c.metrics != nil {
		m.metricOptions = []metric.AddOption{c.metrics.methodAttrs(d)}
	}
	if d.WaitForReady {
		m.callOptions = append(m.callOptions, grpc.WaitForReady(true))
	}
	return m
}

// Desc returns the description the method was bound with.
func (m *Method) Desc() MethodDesc { return m.desc }

// Active is the number of calls of this method in flight on its Conn.
func (m *Method) Active() int { return int(m.active.Load()) }

// options returns the options for one call: the method's, then the caller's.
// The method's are shared by every call, so they are handed out with no
// spare capacity: whoever appends to them gets a copy.
func (m *Method) options(opts []grpc.CallOption) []grpc.CallOption {
	own := m.callOptions[:len(m.callOptions):len(m.callOptions)]
	if len(opts) == 0 {
		return own
	}
	return append(own, opts...)
}

// withTimeout applies the method's default timeout to a context that has no
// deadline. A deadline the caller set wins, sooner or later than the
// default: the .proto declares a default, not a limit. The returned cancel
// is nil when ctx is returned unchanged.
func (m *Method) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if m.desc.Timeout <= 0 {
		return ctx, nil
	}
	if _, ok := ctx.Deadline(); ok {
		return ctx, nil
	}
	return context.WithTimeout(ctx, m.desc.Timeout)
}

// begin registers a call and makes sure the connection is on its way. It
// fails with codes.Unavailable once the Conn is shutting down or closed; the
// call is then not registered. A call whose context has already ended is
// registered but does not connect; its caller ends it without dispatching
// it (see notDispatched).
func (m *Method) begin(ctx context.Context) error {
	c := m.conn
	if !c.tracker.begin() {
		return c.refusal()
	}
	m.active.Add(1)
	m.started.Add(1)
	if c.metrics != nil {
		c.metrics.activeCalls.Add(ctx, 1, m.metricOptions...)
	}
	c.triggerConnect(ctx)
	return nil
}

// notDispatched is the error of a registered call whose context ended
// before dispatch, or nil if it has not.
func (m *Method) notDispatched(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	return contextError(ctx, "lazyclient: "+m.desc.FullMethod+" not dispatched")
}

// end deregisters a call that begin admitted. err is the call's outcome.
func (m *Method) end(err error) {
	c := m.conn
	if err != nil && status.Code(err) == codes.Unavailable {
		// Recorded before the count falls, so that the reconnect policy,
		// which reads the count first, sees one or the other.
		c.callLost.Store(true)
	}
	if c.metrics != nil {
		c.metrics.activeCalls.Add(context.Background(), -1, m.metricOptions...)
	}
	m.active.Add(-1)
	c.tracker.end()
}

// errPanicked ends the registration of a stream whose opening panicked.
var errPanicked = status.Error(codes.Internal, "lazyclient: panic while opening the stream")

// invoke makes a unary call.
func (m *Method) invoke(ctx context.Context, in, out any, opts []grpc.CallOption) (err error) {
	if err := m.begin(ctx); err != nil {
		return err
	}
	defer func() { m.end(err) }()
	if err := m.notDispatched(ctx); err != nil {
		return err
	}
	if tctx, cancel := m.withTimeout(ctx); cancel != nil {
		defer cancel()
		ctx = tctx
	}
	return m.conn.cc.Invoke(ctx, m.desc.FullMethod, in, out, m.options(opts)...)
}

// newStream opens a streaming call, registered as call, which the caller
// allocates with whatever holds the stream so that both cost one
// allocation. The call is deregistered when grpc finishes it: on the error
// RecvMsg returns (io.EOF included), when its context ends, or when it
// fails to open.
func (m *Method) newStream(ctx context.Context, call *streamCall, opts []grpc.CallOption) (grpc.ClientStream, error) {
	if err := m.begin(ctx); err != nil {
		return nil, err
	}
	call.method = m
	if err := m.notDispatched(ctx); err != nil {
		call.finish(err)
		return nil, err
	}
	ctx, call.cancel = m.withTimeout(ctx)
	opts = append(m.options(opts), grpc.OnFinish(call.finish))
	// An interceptor or codec that panics must not leave the call counted
	// forever; the panic goes on unchanged.
	opened := false
	defer func() {
		if !opened {
			call.finish(errPanicked)
		}
	}()
	s, err := m.conn.cc.NewStream(ctx, &m.streamDesc, m.desc.FullMethod, opts...)
	opened = true
	if err != nil {
		// grpc has already finished the call if it got far enough to
		// start it; an interceptor that failed first has not. finish
		// runs once either way.
		call.finish(err)
		return nil, err
	}
	return s, nil
}
