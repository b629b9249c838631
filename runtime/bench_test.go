package runtime

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/test/bufconn"
)

// These microbenchmarks measure what every call pays to be counted: the
// registration and deregistration around its dispatch. Run them with
// `-cpu 1,2,8`: with RunParallel, ns/op that grows far faster than the
// shared counter's below would mean the tracker serialises its callers.

// BenchmarkSharedCounter is the floor: one atomic add and one atomic
// subtract on a counter that every goroutine shares.
func BenchmarkSharedCounter(b *testing.B) {
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n.Add(1)
			n.Add(-1)
		}
	})
}

func BenchmarkTrackerBeginEnd(b *testing.B) {
	t := newTracker()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !t.begin() {
				b.Error("begin refused before drain")
				return
			}
			t.end()
		}
	})
}

// BenchmarkMethodBeginEnd is the whole registration a generated method
// makes, all goroutines on one method of one READY Conn.
func BenchmarkMethodBeginEnd(b *testing.B) {
	m := readyConn(b).Method(&MethodDesc{FullMethod: "/bench.v1.BenchService/Call", Kind: Unary})
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := m.begin(ctx); err != nil {
				b.Error(err)
				return
			}
			m.end(nil)
		}
	})
}

// readyConn returns a Conn connected to an in-process server, so that
// begin's connect trigger finds nothing to do, as on a busy client.
func readyConn(b *testing.B) *Conn {
	b.Helper()
	lis := bufconn.Listen(1 << 16)
	srv := grpc.NewServer()
	go srv.Serve(lis)
	b.Cleanup(srv.Stop)
	conn, err := NewConn("passthrough:///bufconn", WithDialOptions(
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) })))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := conn.Connect(ctx); err != nil {
		b.Fatal(err)
	}
	return conn
}
