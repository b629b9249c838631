#!/usr/bin/env bash
# The whole test suite, as CI runs it: gofmt, buf lint and buf format on the
# .proto files, go vet, staticcheck, a check that every generated file
# checked in is what the generators make today, and every package's tests
# under the race detector (the end-to-end tests run the real protoc and buf
# binaries). Only Go is needed; protoc comes from Debian's protobuf-compiler
# and is installed when missing and run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

STATICCHECK_VERSION=v0.8.2

if ! command -v protoc >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "== installing protoc (Debian's protobuf-compiler)"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler >/dev/null
	else
		echo "protoc is missing: install Debian's protobuf-compiler (sudo apt-get install protobuf-compiler)" >&2
		exit 1
	fi
fi
source scripts/tools.sh

echo "== gofmt"
unformatted=$(gofmt -l $(find . -name '*.go' -not -path './.bin/*'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi

echo "== buf lint, buf format"
buf lint
buf format --diff --exit-code

echo "== go vet"
go vet ./...

echo "== staticcheck"
go run "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" ./...

echo "== generated files are up to date"
generated=(optionspb testdata/gen testdata/golden example/gen)
snapshot() { find "${generated[@]}" -type f -print0 | sort -z | xargs -0 sha256sum; }
before=$(snapshot)
scripts/generate.sh
if ! diff <(echo "$before") <(snapshot); then
	echo "checked-in generated files were stale; scripts/generate.sh has rewritten them" >&2
	exit 1
fi

echo "== go test -race"
go test -race -count=1 ./...
