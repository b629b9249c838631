# Sourced by the other scripts: builds the code generators this repository
# uses into .bin (pinned versions, from the Go module proxy) and puts them
# first on PATH. Only Go is needed.
BUF_VERSION=v1.75.0
GO_GRPC_VERSION=v1.6.2
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin="$root/.bin"
mkdir -p "$bin"
(
	cd "$root"
	go build -o "$bin/protoc-gen-lazyclient" ./cmd/protoc-gen-lazyclient
	go build -o "$bin/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go
	GOBIN="$bin" go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$GO_GRPC_VERSION"
	GOBIN="$bin" go install "github.com/bufbuild/buf/cmd/buf@$BUF_VERSION"
)
export PATH="$bin:$PATH"
