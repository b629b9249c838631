// Package interoptest runs grpc-go's own interop client cases through the lazy
// stubs generated for grpc.testing.TestService, against grpc-go's interop
// server on 127.0.0.1.
package interoptest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/lazyclient/lazyclient/runtime"
	"github.com/lazyclient/lazyclient/testdata/gen/interop/grpc_testinglazy"
	"google.golang.org/grpc"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
)

// The lazy clients drop in for protoc-gen-go-grpc's.
var (
	_ testgrpc.TestServiceClient                     = grpc_testinglazy.TestServiceClient(nil)
	_ testgrpc.UnimplementedServiceClient            = grpc_testinglazy.UnimplementedServiceClient(nil)
	_ testgrpc.ReconnectServiceClient                = grpc_testinglazy.ReconnectServiceClient(nil)
	_ testgrpc.LoadBalancerStatsServiceClient        = grpc_testinglazy.LoadBalancerStatsServiceClient(nil)
	_ testgrpc.HookServiceClient                     = grpc_testinglazy.HookServiceClient(nil)
	_ testgrpc.XdsUpdateHealthServiceClient          = grpc_testinglazy.XdsUpdateHealthServiceClient(nil)
	_ testgrpc.XdsUpdateClientConfigureServiceClient = grpc_testinglazy.XdsUpdateClientConfigureServiceClient(nil)
)

func TestInteropCasesThroughLazyStubs(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(srv, interop.NewTestServer())
	go srv.Serve(lis)
	defer srv.Stop()

	conn, err := runtime.NewConn(lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := grpc_testinglazy.NewTestServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Each case fails the process through grpclog.Fatal on a mismatch, as
	// in grpc-go's interop client.
	cases := []struct {
		name string
		run  func()
	}{
		{"empty_unary", func() { interop.DoEmptyUnaryCall(ctx, client) }},
		{"large_unary", func() { interop.DoLargeUnaryCall(ctx, client) }},
		{"client_streaming", func() { interop.DoClientStreaming(ctx, client) }},
		{"server_streaming", func() { interop.DoServerStreaming(ctx, client) }},
		{"ping_pong", func() { interop.DoPingPong(ctx, client) }},
		{"empty_stream", func() { interop.DoEmptyStream(ctx, client) }},
		{"timeout_on_sleeping_server", func() { interop.DoTimeoutOnSleepingServer(ctx, client) }},
		{"cancel_after_begin", func() { interop.DoCancelAfterBegin(ctx, client) }},
		{"cancel_after_first_response", func() { interop.DoCancelAfterFirstResponse(ctx, client) }},
		{"custom_metadata", func() { interop.DoCustomMetadata(ctx, client) }},
		{"status_code_and_message", func() { interop.DoStatusCodeAndMessage(ctx, client) }},
		{"special_status_message", func() { interop.DoSpecialStatusMessage(ctx, client) }},
		{"unimplemented_service", func() {
			interop.DoUnimplementedService(ctx, grpc_testinglazy.NewUnimplementedServiceClient(conn))
		}},
		{"unimplemented_method", func() { interop.DoUnimplementedMethod(ctx, conn.ClientConn()) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run()
			// Streams that the case abandoned end with their contexts.
			for deadline := time.Now().Add(10 * time.Second); conn.Active() != 0; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("Active() = %d after the case, want 0", conn.Active())
				}
			}
		})
	}
	st := conn.Stats()
	if st.Started == 0 || st.Started != st.Finished {
		t.Errorf("Stats started/finished = %d/%d, want equal and non-zero", st.Started, st.Finished)
	}
}
