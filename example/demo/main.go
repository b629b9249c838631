// Command demo shows a lazy client through a server restart: no dial when the
// client is created, one when the first call comes, none after the server goes
// away and comes back while the client is idle, and one again when the next
// call comes.
package main

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"time"

	greetv1 "github.com/lazyclient/lazyclient/example/gen/greet/v1"
	"github.com/lazyclient/lazyclient/example/gen/greet/v1/greetv1lazy"
	"github.com/lazyclient/lazyclient/runtime"
	"google.golang.org/grpc"
)

type greeter struct {
	greetv1.UnimplementedGreetServiceServer
}

func (greeter) Greet(_ context.Context, req *greetv1.GreetRequest) (*greetv1.GreetResponse, error) {
	return &greetv1.GreetResponse{Greeting: "hello, " + req.GetName()}, nil
}

// serve starts a server on addr and returns it.
func serve(addr string) (*grpc.Server, string) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer()
	greetv1.RegisterGreetServiceServer(srv, greeter{})
	go srv.Serve(lis)
	return srv, lis.Addr().String()
}

func main() {
	log.SetFlags(0)
	srv, addr := serve("127.0.0.1:0")

	var dials atomic.Int32
	dialer := func(ctx context.Context, addr string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	}
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	conn, err := runtime.NewConn(addr,
		runtime.WithDialOptions(grpc.WithContextDialer(dialer)),
		runtime.WithLogger(logger))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	client := greetv1lazy.NewGreetServiceClient(conn)
	report := func(what string) {
		fmt.Printf("== %-58s state=%-17v dials=%d active=%d\n", what, conn.State(), dials.Load(), conn.Active())
	}

	report("client created (no I/O yet)")
	greet := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := client.Greet(ctx, &greetv1.GreetRequest{Name: "lazy"}, grpc.WaitForReady(true))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("   reply: %q\n", res.GetGreeting())
	}
	greet()
	report("first call made: one dial")

	srv.Stop()
	waitFor(conn, "IDLE")
	report("server stopped: the connection dropped")
	srv, _ = serve(addr)
	defer srv.Stop()
	time.Sleep(2 * time.Second)
	report("server back for 2s: still idle, no dial (gRFC A62)")

	greet()
	report("next call made: exactly one new dial")
}

func waitFor(conn *runtime.Conn, state string) {
	for conn.State().String() != state {
		time.Sleep(10 * time.Millisecond)
	}
}
