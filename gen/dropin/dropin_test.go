// Package dropin checks that the lazy stubs generated for the regression
// protos under testdata/proto compile, drop in for protoc-gen-go-grpc's
// clients, and reach a real server under the right method names.
package dropin

import (
	"context"
	"net"
	"testing"

	"github.com/lazyclient/lazyclient/runtime"
	ed2023v1 "github.com/lazyclient/lazyclient/testdata/gen/editions/ed2023/v1"
	"github.com/lazyclient/lazyclient/testdata/gen/editions/ed2023/v1/ed2023v1lazy"
	proto2v1 "github.com/lazyclient/lazyclient/testdata/gen/editions/proto2/v1"
	"github.com/lazyclient/lazyclient/testdata/gen/editions/proto2/v1/proto2v1lazy"
	keywordsv1 "github.com/lazyclient/lazyclient/testdata/gen/names/keywords/v1"
	"github.com/lazyclient/lazyclient/testdata/gen/names/keywords/v1/keywordsv1lazy"
	"github.com/lazyclient/lazyclient/testdata/gen/names/lookalike/v1/lookalikev1lazy"
	twopkgsv1 "github.com/lazyclient/lazyclient/testdata/gen/names/twopkgs/v1"
	"github.com/lazyclient/lazyclient/testdata/gen/names/twopkgs/v1/v1lazy"
	underscorev1 "github.com/lazyclient/lazyclient/testdata/gen/names/underscore/v1"
	"github.com/lazyclient/lazyclient/testdata/gen/names/underscore/v1/underscorev1lazy"
	samepkgv1 "github.com/lazyclient/lazyclient/testdata/gen/samepkg/v1"
	"google.golang.org/grpc"
)

// Each lazy client has the method set of protoc-gen-go-grpc's.
var (
	_ keywordsv1.FuncClient               = keywordsv1lazy.FuncClient(nil)
	_ keywordsv1.StringClient             = keywordsv1lazy.StringClient(nil)
	_ keywordsv1.ContextClient            = keywordsv1lazy.ContextClient(nil)
	_ twopkgsv1.ConvertClient             = v1lazy.ConvertClient(nil)
	_ underscorev1.SnakeCaseServiceClient = underscorev1lazy.SnakeCaseServiceClient(nil)
	_ underscorev1.XPrivateClient         = underscorev1lazy.XPrivateClient(nil)
	_ underscorev1.Outer_InnerClient      = underscorev1lazy.Outer_InnerClient(nil)
	_ samepkgv1.GreeterClient             = samepkgv1.GreeterLazyClient(nil)
	_ samepkgv1.FarewellClient            = samepkgv1.FarewellLazyClient(nil)
	_ samepkgv1.LazyClient                = samepkgv1.LazyLazyClient(nil)
	//lint:ignore SA1019 legacy.proto deprecates the service to cover the notice; checking the stub is the point.
	_ proto2v1.LegacyServiceClient                     = proto2v1lazy.LegacyServiceClient(nil)
	_ ed2023v1.CounterClient                           = ed2023v1lazy.CounterClient(nil)
	_ func(*runtime.Conn) samepkgv1.GreeterLazyClient  = samepkgv1.NewGreeterLazyClient
	_ func(*runtime.Conn) keywordsv1lazy.DefaultClient = keywordsv1lazy.NewDefaultClient
)

// names/lookalike has no protoc-gen-go-grpc output to compare with; its
// services' stubs keep apart.
var (
	_ func(*runtime.Conn) lookalikev1lazy.FooClient       = lookalikev1lazy.NewFooClient
	_ func(*runtime.Conn) lookalikev1lazy.FooClientClient = lookalikev1lazy.NewFooClientClient
	_ func(*runtime.Conn) lookalikev1lazy.ClientClient    = lookalikev1lazy.NewClientClient
	_ func(*runtime.Conn) lookalikev1lazy.LazyClient      = lookalikev1lazy.NewLazyClient
)

// serve starts a server on 127.0.0.1 with the services register adds, and
// returns a Conn to it; both end with the test.
func serve(t *testing.T, register func(*grpc.Server)) *runtime.Conn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	register(srv)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := runtime.NewConn(lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

type funcServer struct {
	keywordsv1.UnimplementedFuncServer
}

func (funcServer) Type(context.Context, *keywordsv1.Struct) (*keywordsv1.Interface, error) {
	return &keywordsv1.Interface{}, nil
}

type snakeServer struct {
	underscorev1.UnimplementedSnakeCaseServiceServer
}

func (snakeServer) XLeading(context.Context, *underscorev1.LowerSnakeMessage) (*underscorev1.Outer, error) {
	return &underscorev1.Outer{}, nil
}

// TestOddNamesReachTheServer calls methods whose proto names are Go
// keywords or start with an underscore: the stubs must send the proto names,
// not the Go ones.
func TestOddNamesReachTheServer(t *testing.T) {
	conn := serve(t, func(srv *grpc.Server) {
		keywordsv1.RegisterFuncServer(srv, funcServer{})
		underscorev1.RegisterSnakeCaseServiceServer(srv, snakeServer{})
	})

	if got := keywordsv1lazy.Func_Type_MethodDesc.FullMethod; got != "/names.keywords.v1.func/type" {
		t.Errorf("Func_Type_MethodDesc.FullMethod = %q", got)
	}
	if _, err := keywordsv1lazy.NewFuncClient(conn).Type(context.Background(), &keywordsv1.Struct{}); err != nil {
		t.Errorf("func.type: %v", err)
	}
	if got := underscorev1lazy.SnakeCaseService_XLeading_MethodDesc.FullMethod; got != "/names.underscore.v1.snake_case_service/_leading" {
		t.Errorf("SnakeCaseService_XLeading_MethodDesc.FullMethod = %q", got)
	}
	if _, err := underscorev1lazy.NewSnakeCaseServiceClient(conn).XLeading(context.Background(), &underscorev1.LowerSnakeMessage{}); err != nil {
		t.Errorf("snake_case_service._leading: %v", err)
	}
}
