#!/usr/bin/env bash
# Regenerates everything generated that is checked in: the options' Go
# package under optionspb, the stubs under testdata/gen and example/gen, and
# the generator's goldens.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh
rm -rf testdata/gen example/gen optionspb
buf generate
buf generate --template testdata/buf.gen.samepkg.yaml
buf generate --template testdata/buf.gen.names.yaml
# grpc-go's interop TestService, from the descriptors compiled into grpc-go.
interop=google.golang.org/grpc/interop/grpc_testing
go run ./internal/cmd/descgen -out . -param "module=github.com/lazyclient/lazyclient,\
Mgrpc/testing/test.proto=github.com/lazyclient/lazyclient/testdata/gen/interop;grpc_testing,\
Mgrpc/testing/empty.proto=$interop,Mgrpc/testing/messages.proto=$interop" grpc/testing/test.proto
# grpc-go's health, reflection and channelz services, from their compiled-in
# descriptors: the messages stay in grpc-go's packages, the stubs go under
# testdata/gen/realworld.
go run ./internal/cmd/descgen -out testdata/gen/realworld -param paths=source_relative \
	grpc/health/v1/health.proto grpc/reflection/v1/reflection.proto \
	grpc/reflection/v1alpha/reflection.proto grpc/channelz/v1/channelz.proto
go test ./gen -run 'TestGolden' -update >/dev/null
