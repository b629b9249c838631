package dropin

import (
	"context"
	"testing"
	"time"

	ed2024v1 "github.com/lazyclient/lazyclient/testdata/gen/editions/ed2024/v1"
	"github.com/lazyclient/lazyclient/testdata/gen/editions/ed2024/v1/ed2024v1lazy"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

var _ ed2024v1.TallyClient = ed2024v1lazy.TallyClient(nil)

type tallyServer struct {
	ed2024v1.UnimplementedTallyServer
}

func (tallyServer) Add(_ context.Context, req *ed2024v1.AddRequest) (*ed2024v1.AddResponse, error) {
	return ed2024v1.AddResponse_builder{Count: proto.Int64(req.GetDelta())}.Build(), nil
}

// TestEdition2024 calls a service of edition 2024, with messages in Go's
// opaque API and the policy imported with "import option", through its
// lazy stubs.
func TestEdition2024(t *testing.T) {
	if d := ed2024v1lazy.Tally_Add_MethodDesc; !d.WaitForReady || d.Timeout != time.Second {
		t.Errorf("Tally_Add_MethodDesc = %+v, want WaitForReady and a 1s timeout", d)
	}
	conn := serve(t, func(srv *grpc.Server) { ed2024v1.RegisterTallyServer(srv, tallyServer{}) })
	res, err := ed2024v1lazy.NewTallyClient(conn).Add(context.Background(), ed2024v1.AddRequest_builder{Delta: proto.Int64(3)}.Build())
	if err != nil || res.GetCount() != 3 {
		t.Errorf("Add(3) = %v, %v; want count 3", res, err)
	}
}
