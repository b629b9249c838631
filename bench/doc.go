// Package bench measures the lazy stubs against protoc-gen-go-grpc's on the
// same server, and the reconnect storm that a server restart causes under
// many idle clients. It holds only tests and benchmarks; scripts/bench.sh
// runs them all and BENCHMARKS.md holds the figures.
package bench
