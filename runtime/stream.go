package runtime

import (
	"context"
	"io"
	"sync/atomic"

	"google.golang.org/grpc"
)

// streamCall is the registration of one streaming call.
type streamCall struct {
	method   *Method
	cancel   context.CancelFunc // the default timeout's, or nil
	finished atomic.Bool
}

// finish deregisters the call the first time it runs; grpc's OnFinish and
// the failure path of newStream may both reach it.
func (s *streamCall) finish(err error) {
	if !s.finished.CompareAndSwap(false, true) {
		return
	}
	if s.cancel != nil {
		s.cancel()
	}
	s.method.end(err)
}

// Invoke makes a unary call of m and returns its response.
func Invoke[Req, Res any](ctx context.Context, m *Method, in *Req, opts ...grpc.CallOption) (*Res, error) {
	out := new(Res)
	if err := m.invoke(ctx, in, out, opts); err != nil {
		return nil, err
	}
	return out, nil
}

// clientStream is the stream the generated stubs return: grpc's generic
// stream with the call's registration beside it, in one allocation.
type clientStream[Req, Res any] struct {
	grpc.GenericClientStream[Req, Res]
	call streamCall
}

// openStream opens a streaming call of m. On error it returns a nil pointer,
// which callers must not return as a (non-nil) interface.
func openStream[Req, Res any](ctx context.Context, m *Method, opts []grpc.CallOption) (*clientStream[Req, Res], error) {
	x := new(clientStream[Req, Res])
	s, err := m.newStream(ctx, &x.call, opts)
	if err != nil {
		return nil, err
	}
	x.ClientStream = s
	return x, nil
}

// NewServerStream opens a server-streaming call of m and sends its request.
//
// If the request cannot be sent, the call's final status is read and
// returned, so the call is over when NewServerStream returns an error.
func NewServerStream[Req, Res any](ctx context.Context, m *Method, in *Req, opts ...grpc.CallOption) (grpc.ServerStreamingClient[Res], error) {
	x, err := openStream[Req, Res](ctx, m, opts)
	if err != nil {
		return nil, err
	}
	if err := x.SendMsg(in); err != nil {
		return nil, finishAfterSendError(&x.GenericClientStream, err)
	}
	if err := x.CloseSend(); err != nil {
		return nil, finishAfterSendError(&x.GenericClientStream, err)
	}
	return x, nil
}

// finishAfterSendError reads a stream to its end after a send failed, so
// that grpc finishes the call, and returns the call's status.
//
// io.EOF from SendMsg means only that the server ended the stream; its
// status comes from RecvMsg. Any other error is the call's: grpc has
// finished the call already, unless an interceptor's stream refused the
// request before grpc saw it — then the send side is closed, so that the
// server, still waiting for the request, ends the call instead of hanging.
func finishAfterSendError[Req, Res any](x *grpc.GenericClientStream[Req, Res], sendErr error) error {
	if sendErr != io.EOF {
		x.CloseSend()
		recvToEnd(x)
		return sendErr
	}
	if err := recvToEnd(x); err != io.EOF {
		return err
	}
	return sendErr
}

// recvToEnd reads a stream until it ends and returns the error that ended it.
func recvToEnd[Req, Res any](x *grpc.GenericClientStream[Req, Res]) error {
	for {
		if _, err := x.Recv(); err != nil {
			return err
		}
	}
}

// NewClientStream opens a client-streaming call of m.
func NewClientStream[Req, Res any](ctx context.Context, m *Method, opts ...grpc.CallOption) (grpc.ClientStreamingClient[Req, Res], error) {
	x, err := openStream[Req, Res](ctx, m, opts)
	if err != nil {
		return nil, err
	}
	return x, nil
}

// NewBidiStream opens a bidirectional-streaming call of m.
func NewBidiStream[Req, Res any](ctx context.Context, m *Method, opts ...grpc.CallOption) (grpc.BidiStreamingClient[Req, Res], error) {
	x, err := openStream[Req, Res](ctx, m, opts)
	if err != nil {
		return nil, err
	}
	return x, nil
}
