package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/lazyclient/lazyclient/runtime"
	echov1 "github.com/lazyclient/lazyclient/testdata/gen/echo/v1"
	"github.com/lazyclient/lazyclient/testdata/gen/echo/v1/echov1lazy"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// exampleServer serves the EchoService on 127.0.0.1 until stop is called.
func exampleServer() (addr string, stop func()) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer()
	echov1.RegisterEchoServiceServer(srv, echoServer{})
	go srv.Serve(lis)
	return lis.Addr().String(), srv.Stop
}

// A Conn does no I/O until the first call, which connects it.
func Example() {
	addr, stop := exampleServer()
	defer stop()

	conn, err := runtime.NewConn(addr)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	client := echov1lazy.NewEchoServiceClient(conn)
	fmt.Println("before the first call:", conn.State())

	res, err := client.Echo(context.Background(), &echov1.EchoRequest{Message: "hello"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.GetMessage(), "with", conn.Active(), "calls in flight after it")
	// Output:
	// before the first call: IDLE
	// hello with 0 calls in flight after it
}

// Connect connects ahead of the first call, bounded by its context.
func ExampleConn_Connect() {
	addr, stop := exampleServer()
	defer stop()
	conn, err := runtime.NewConn(addr)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := conn.Connect(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println(conn.State())
	// Output: READY
}

// Connect says why it failed: here nothing listens on the port.
func ExampleConn_Connect_failure() {
	addr, stop := exampleServer()
	stop()
	conn, err := runtime.NewConn(addr)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = conn.Connect(ctx)
	fmt.Println(status.Code(err), conn.State())
	// Output: Unavailable TRANSIENT_FAILURE
}

// Shutdown lets the calls in flight finish and refuses new ones.
func ExampleConn_Shutdown() {
	addr, stop := exampleServer()
	defer stop()
	conn, err := runtime.NewConn(addr)
	if err != nil {
		log.Fatal(err)
	}
	client := echov1lazy.NewEchoServiceClient(conn)
	ctx := context.Background()
	stream, err := client.Bidi(ctx)
	if err != nil {
		log.Fatal(err)
	}

	done := make(chan error)
	go func() {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		done <- conn.Shutdown(ctx) // waits for the stream
	}()
	for {
		if _, err = client.Echo(ctx, &echov1.EchoRequest{}); err != nil {
			break // Shutdown has begun
		}
	}
	fmt.Println(errors.Is(err, runtime.ErrShuttingDown), status.Code(err))

	stream.Send(&echov1.EchoRequest{Message: "still served"})
	res, err := stream.Recv()
	fmt.Println(res.GetMessage(), err)
	stream.CloseSend()
	stream.Recv() // io.EOF: the stream is over
	fmt.Println("Shutdown:", <-done, conn.State())
	// Output:
	// true Unavailable
	// still served <nil>
	// Shutdown: <nil> SHUTDOWN
}

// Stats counts calls in total and by method.
func ExampleConn_Stats() {
	addr, stop := exampleServer()
	defer stop()
	conn, err := runtime.NewConn(addr)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	client := echov1lazy.NewEchoServiceClient(conn)
	ctx := context.Background()
	if _, err := client.Echo(ctx, &echov1.EchoRequest{}); err != nil {
		log.Fatal(err)
	}
	stream, err := client.ServerStream(ctx, &echov1.ServerStreamRequest{Count: 1, HoldOpen: true})
	if err != nil {
		log.Fatal(err)
	}
	stream.Recv()

	st := conn.Stats()
	fmt.Println("started", st.Started, "finished", st.Finished, "active", st.Active)
	fmt.Println(st.ActiveByMethod)
	// Output:
	// started 2 finished 1 active 1
	// map[/echo.v1.EchoService/ServerStream:1]
}

// Stubs written for a grpc.ClientConnInterface, such as
// protoc-gen-go-grpc's, work on a Conn too, and their calls are counted.
func ExampleConn_Invoke() {
	addr, stop := exampleServer()
	defer stop()
	conn, err := runtime.NewConn(addr)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	client := echov1.NewEchoServiceClient(conn) // protoc-gen-go-grpc's stub
	res, err := client.Echo(context.Background(), &echov1.EchoRequest{Message: "counted"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.GetMessage(), conn.Stats().Started)
	// Output: counted 1
}

// WithReconnect chooses what happens after a drop. Under WhileActive a
// connection lost under calls in flight is dialled again at once, one lost
// while nothing ran waits for the next call, as under OnDemand.
func ExampleWithReconnect() {
	addr, stop := exampleServer()
	defer stop()
	conn, err := runtime.NewConn(addr, runtime.WithReconnect(runtime.WhileActive))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	res, err := echov1lazy.NewEchoServiceClient(conn).Echo(context.Background(), &echov1.EchoRequest{Message: "hello"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.GetMessage())
	// Output: hello
}

// WithLogger logs every state transition and the drain.
func ExampleWithLogger() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // for a stable output
			}
			return a
		},
	}))
	conn, err := runtime.NewConn("127.0.0.1:50051", runtime.WithLogger(logger))
	if err != nil {
		log.Fatal(err)
	}
	conn.Shutdown(context.Background())
	// Output:
	// level=INFO msg="lazyclient: shutdown started" target=127.0.0.1:50051 active=0
	// level=INFO msg="lazyclient: connectivity state changed" target=127.0.0.1:50051 from=IDLE to=SHUTDOWN active=0 cause=close
}

// WithMeterProvider records the active calls by method, and the dials and
// drops, through OpenTelemetry.
func ExampleWithMeterProvider() {
	addr, stop := exampleServer()
	defer stop()
	reader := sdkmetric.NewManualReader()
	conn, err := runtime.NewConn(addr,
		runtime.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	if _, err := echov1lazy.NewEchoServiceClient(conn).Bidi(context.Background()); err != nil {
		log.Fatal(err)
	}

	var rm metricdata.ResourceMetrics
	reader.Collect(context.Background(), &rm)
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if m.Name == runtime.MetricActiveCalls {
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				method, _ := dp.Attributes.Value(runtime.AttrMethod)
				kind, _ := dp.Attributes.Value(runtime.AttrKind)
				fmt.Println(m.Name, method.AsString(), kind.AsString(), dp.Value)
			}
		}
	}
	// Output: lazyclient.client.active_calls echo.v1.EchoService/Bidi bidi_streaming 1
}

// WithLoadBalancing(RoundRobin) spreads calls over every address the target
// resolves to, and stays lazy: see RoundRobin.
func ExampleWithLoadBalancing() {
	addr, stop := exampleServer()
	defer stop()
	conn, err := runtime.NewConn(addr, runtime.WithLoadBalancing(runtime.RoundRobin))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	res, err := echov1lazy.NewEchoServiceClient(conn).Echo(context.Background(), &echov1.EchoRequest{Message: "balanced"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.GetMessage())
	// Output: balanced
}
