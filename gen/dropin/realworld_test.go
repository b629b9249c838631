package dropin

import (
	"context"
	"io"
	"slices"
	"testing"

	"github.com/lazyclient/lazyclient/testdata/gen/realworld/grpc/channelz/v1/grpc_channelz_v1lazy"
	"github.com/lazyclient/lazyclient/testdata/gen/realworld/grpc/health/v1/grpc_health_v1lazy"
	"github.com/lazyclient/lazyclient/testdata/gen/realworld/grpc/reflection/v1/grpc_reflection_v1lazy"
	"github.com/lazyclient/lazyclient/testdata/gen/realworld/grpc/reflection/v1alpha/grpc_reflection_v1alphalazy"
	"google.golang.org/grpc"
	channelzgrpc "google.golang.org/grpc/channelz/grpc_channelz_v1"
	channelzservice "google.golang.org/grpc/channelz/service"
	"google.golang.org/grpc/health"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	reflectiongrpc "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionalphagrpc "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
)

// The stubs generated from grpc-go's own descriptors drop in for its
// go-grpc clients.
var (
	_ healthgrpc.HealthClient                    = grpc_health_v1lazy.HealthClient(nil)
	_ reflectiongrpc.ServerReflectionClient      = grpc_reflection_v1lazy.ServerReflectionClient(nil)
	_ reflectionalphagrpc.ServerReflectionClient = grpc_reflection_v1alphalazy.ServerReflectionClient(nil)
	_ channelzgrpc.ChannelzClient                = grpc_channelz_v1lazy.ChannelzClient(nil)
)

// TestRealWorldStubsCallGRPCServices calls grpc-go's own health, reflection
// and channelz services through the lazy stubs.
func TestRealWorldStubsCallGRPCServices(t *testing.T) {
	conn := serve(t, func(srv *grpc.Server) {
		healthgrpc.RegisterHealthServer(srv, health.NewServer())
		reflection.Register(srv)
		channelzservice.RegisterChannelzServiceToServer(srv)
	})
	ctx := context.Background()

	res, err := grpc_health_v1lazy.NewHealthClient(conn).Check(ctx, &healthgrpc.HealthCheckRequest{})
	if err != nil || res.GetStatus() != healthgrpc.HealthCheckResponse_SERVING {
		t.Errorf("Health.Check = %v, %v; want SERVING", res, err)
	}

	stream, err := grpc_reflection_v1lazy.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectiongrpc.ServerReflectionRequest{
		MessageRequest: &reflectiongrpc.ServerReflectionRequest_ListServices{},
	}); err != nil {
		t.Fatal(err)
	}
	listed, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var services []string
	for _, s := range listed.GetListServicesResponse().GetService() {
		services = append(services, s.GetName())
	}
	for _, want := range []string{"grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.channelz.v1.Channelz"} {
		if !slices.Contains(services, want) {
			t.Errorf("reflection lists %v, want %s among them", services, want)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Errorf("Recv after CloseSend = %v, want io.EOF", err)
	}

	if _, err := grpc_channelz_v1lazy.NewChannelzClient(conn).GetServers(ctx, &channelzgrpc.GetServersRequest{}); err != nil {
		t.Errorf("Channelz.GetServers: %v", err)
	}
	if n := conn.Active(); n != 0 {
		t.Errorf("Active() = %d after every call ended, want 0", n)
	}
}
