package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/lazyclient/lazyclient/runtime"
	echov1 "github.com/lazyclient/lazyclient/testdata/gen/echo/v1"
	"github.com/lazyclient/lazyclient/testdata/gen/echo/v1/echov1lazy"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc"
)

// The call benchmarks run every kind of call through both stubs on the same
// server, so that `benchstat -col /stub` sets them side by side. Each op is
// one whole call; a stream carries one message each way it streams, so that
// what is measured is the cost of a call, not of its messages.
//
// Names: Benchmark<Kind>/transport=<bufconn|tcp>/calls=<seq|parallel>/stub=<grpc|lazy>.

// echoCall makes one call of a kind through client.
type echoCall func(ctx context.Context, client echov1.EchoServiceClient) error

func BenchmarkUnary(b *testing.B) {
	req := &echov1.EchoRequest{Message: "hello"}
	benchmarkCalls(b, func(ctx context.Context, client echov1.EchoServiceClient) error {
		_, err := client.Echo(ctx, req)
		return err
	})
}

func BenchmarkServerStream(b *testing.B) {
	req := &echov1.ServerStreamRequest{Message: "hello", Count: 1}
	benchmarkCalls(b, func(ctx context.Context, client echov1.EchoServiceClient) error {
		stream, err := client.ServerStream(ctx, req)
		if err != nil {
			return err
		}
		return receiveToEnd(stream.Recv)
	})
}

func BenchmarkClientStream(b *testing.B) {
	req := &echov1.EchoRequest{Message: "hello"}
	benchmarkCalls(b, func(ctx context.Context, client echov1.EchoServiceClient) error {
		stream, err := client.ClientStream(ctx)
		if err != nil {
			return err
		}
		if err := stream.Send(req); err != nil {
			return err
		}
		_, err = stream.CloseAndRecv()
		return err
	})
}

func BenchmarkBidi(b *testing.B) {
	req := &echov1.EchoRequest{Message: "hello"}
	benchmarkCalls(b, func(ctx context.Context, client echov1.EchoServiceClient) error {
		stream, err := client.Bidi(ctx)
		if err != nil {
			return err
		}
		if err := stream.Send(req); err != nil {
			return err
		}
		if err := stream.CloseSend(); err != nil {
			return err
		}
		return receiveToEnd(stream.Recv)
	})
}

// BenchmarkUnaryStubOnly is a unary call that stops at the client
// interceptor, before any transport: the stub's own cost, which the time of
// a whole call on a busy machine varies by far more than.
func BenchmarkUnaryStubOnly(b *testing.B) {
	ep := serveEcho(b, transportBufconn)
	ep.dialOptions = append(ep.dialOptions, grpc.WithUnaryInterceptor(skipTransport))
	// The lazy stub again with its metrics recorded by the OpenTelemetry
	// SDK, for what WithMeterProvider adds to a call.
	metered, err := runtime.NewConn(ep.target, runtime.WithDialOptions(ep.clientDialOptions()...),
		runtime.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))))
	if err != nil {
		b.Fatalf("runtime.NewConn: %v", err)
	}
	b.Cleanup(func() { metered.Close() })
	stubs := append(newStubs(b, ep), stub{name: "lazy_metrics", client: echov1lazy.NewEchoServiceClient(metered)})
	req := &echov1.EchoRequest{Message: "hello"}
	for _, stub := range stubs {
		b.Run("calls=seq/stub="+stub.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := stub.client.Echo(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// skipTransport is a unary interceptor that answers every call with an
// empty response and no error, without sending it.
func skipTransport(context.Context, string, any, any, *grpc.ClientConn, grpc.UnaryInvoker, ...grpc.CallOption) error {
	return nil
}

// receiveToEnd reads a stream until it ends; a clean end is no error.
func receiveToEnd(recv func() (*echov1.EchoResponse, error)) error {
	for {
		if _, err := recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// benchmarkCalls runs call on each transport, one call at a time and from
// RunParallel's goroutines, through each stub.
func benchmarkCalls(b *testing.B, call echoCall) {
	for _, transport := range []string{transportBufconn, transportTCP} {
		stubs := newStubs(b, serveEcho(b, transport))
		for _, stub := range stubs {
			b.Run(fmt.Sprintf("transport=%s/calls=seq/stub=%s", transport, stub.name), func(b *testing.B) {
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					if err := call(ctx, stub.client); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		for _, stub := range stubs {
			b.Run(fmt.Sprintf("transport=%s/calls=parallel/stub=%s", transport, stub.name), func(b *testing.B) {
				ctx := context.Background()
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := call(ctx, stub.client); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

type stub struct {
	name   string
	client echov1.EchoServiceClient
}

// newStubs returns protoc-gen-go-grpc's client and the lazy one for ep, each
// on a connection of its own made with the same dial options, both connected
// before any benchmark's timer starts.
func newStubs(b *testing.B, ep endpoint) []stub {
	b.Helper()
	dialOptions := ep.clientDialOptions()
	cc, err := grpc.NewClient(ep.target, dialOptions...)
	if err != nil {
		b.Fatalf("grpc.NewClient: %v", err)
	}
	b.Cleanup(func() { cc.Close() })
	conn, err := runtime.NewConn(ep.target, runtime.WithDialOptions(dialOptions...))
	if err != nil {
		b.Fatalf("runtime.NewConn: %v", err)
	}
	b.Cleanup(func() { conn.Close() })
	stubs := []stub{
		{name: "grpc", client: echov1.NewEchoServiceClient(cc)},
		{name: "lazy", client: echov1lazy.NewEchoServiceClient(conn)},
	}
	for _, s := range stubs {
		if _, err := s.client.Echo(context.Background(), &echov1.EchoRequest{Message: "warm-up"}); err != nil {
			b.Fatalf("warm-up call through the %s stub: %v", s.name, err)
		}
	}
	return stubs
}
