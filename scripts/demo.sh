#!/usr/bin/env bash
# The main job: generate the lazy stubs for the bundled example
# (example/proto) with protoc-gen-lazyclient through buf, then run a short
# demo against a real server on 127.0.0.1 that shows the client staying idle
# after a server restart and dialling again only when a call comes.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh
echo "== buf generate example/proto (protoc-gen-go, protoc-gen-go-grpc, protoc-gen-lazyclient)"
buf generate example/proto
find example/gen -name '*.go' | sort
echo "== go run ./example/demo"
go run ./example/demo
