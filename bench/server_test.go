package bench

import (
	"context"
	"io"
	"net"
	"testing"

	echov1 "github.com/lazyclient/lazyclient/testdata/gen/echo/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
)

// echoServer implements the testdata EchoService with as little work as
// possible, so that the client's cost dominates what is measured.
type echoServer struct {
	echov1.UnimplementedEchoServiceServer
}

func (echoServer) Echo(_ context.Context, req *echov1.EchoRequest) (*echov1.EchoResponse, error) {
	return &echov1.EchoResponse{Message: req.GetMessage()}, nil
}

func (echoServer) ServerStream(req *echov1.ServerStreamRequest, stream grpc.ServerStreamingServer[echov1.EchoResponse]) error {
	for range req.GetCount() {
		if err := stream.Send(&echov1.EchoResponse{Message: req.GetMessage()}); err != nil {
			return err
		}
	}
	return nil
}

func (echoServer) ClientStream(stream grpc.ClientStreamingServer[echov1.EchoRequest, echov1.EchoResponse]) error {
	var last string
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return stream.SendAndClose(&echov1.EchoResponse{Message: last})
		}
		if err != nil {
			return err
		}
		last = req.GetMessage()
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

// The transports the call benchmarks run on.
const (
	transportBufconn = "bufconn"
	transportTCP     = "tcp"
)

// endpoint is where a client reaches a server: a target and the dial
// options that make it reachable.
type endpoint struct {
	target      string
	dialOptions []grpc.DialOption
}

// clientDialOptions are the options a client needs to reach ep: an insecure
// transport, then ep's own.
func (ep endpoint) clientDialOptions() []grpc.DialOption {
	return append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, ep.dialOptions...)
}

// serveEcho starts an EchoService server on transport and stops it when tb
// ends. TCP listens on 127.0.0.1 only.
func serveEcho(tb testing.TB, transport string) endpoint {
	tb.Helper()
	srv := grpc.NewServer()
	echov1.RegisterEchoServiceServer(srv, echoServer{})
	var ep endpoint
	var lis net.Listener
	switch transport {
	case transportBufconn:
		buf := bufconn.Listen(1 << 20)
		lis = buf
		ep.target = "passthrough:///bufconn"
		ep.dialOptions = []grpc.DialOption{grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return buf.DialContext(ctx)
		})}
	case transportTCP:
		var err error
		if lis, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			tb.Fatalf("listen: %v", err)
		}
		ep.target = "passthrough:///" + lis.Addr().String()
	default:
		tb.Fatalf("unknown transport %q", transport)
	}
	go srv.Serve(lis)
	tb.Cleanup(srv.Stop)
	return ep
}
