package main

// Services from grpc-go that scripts/generate.sh generates lazy stubs for,
// to prove the stubs for protos written elsewhere compile and drop in for
// protoc-gen-go-grpc's clients (gen/dropin checks them).
import (
	_ "google.golang.org/grpc/channelz/grpc_channelz_v1"
	_ "google.golang.org/grpc/health/grpc_health_v1"
	_ "google.golang.org/grpc/reflection/grpc_reflection_v1"
	_ "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
)
