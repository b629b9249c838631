// Command genrequest writes a large CodeGeneratorRequest to stdout, for
// timing code generators on the same input: -files proto files of
// -services services each, every service with two methods of each kind.
//
//	go run ./bench/genrequest -files 100 -services 5 > request.bin
//	protoc-gen-lazyclient < request.bin > /dev/null
package main

import (
	"flag"
	"fmt"
	"log"
	"os"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"
)

func main() {
	files := flag.Int("files", 100, "proto files in the request")
	services := flag.Int("services", 5, "services in each file")
	flag.Parse()
	if *files < 1 || *services < 1 {
		log.Fatal("genrequest: -files and -services must be at least 1")
	}
	req := &pluginpb.CodeGeneratorRequest{Parameter: proto.String("paths=source_relative")}
	for i := range *files {
		file := benchFile(i, *services)
		req.FileToGenerate = append(req.FileToGenerate, file.GetName())
		req.ProtoFile = append(req.ProtoFile, file)
	}
	out, err := proto.Marshal(req)
	if err != nil {
		log.Fatalf("genrequest: %v", err)
	}
	if _, err := os.Stdout.Write(out); err != nil {
		log.Fatalf("genrequest: %v", err)
	}
}

// methodShapes are the four kinds of method, each as (client streams,
// server streams).
var methodShapes = []struct {
	name                         string
	clientStreams, serverStreams bool
}{
	{"Get", false, false},
	{"Watch", false, true},
	{"Upload", true, false},
	{"Chat", true, true},
}

// benchFile is proto file number n: a request and a response message and
// services services over them.
func benchFile(n, services int) *descriptorpb.FileDescriptorProto {
	pkg := fmt.Sprintf("bench.f%03d.v1", n)
	message := func(name string) *descriptorpb.DescriptorProto {
		return &descriptorpb.DescriptorProto{
			Name: proto.String(name),
			Field: []*descriptorpb.FieldDescriptorProto{
				{Name: proto.String("id"), Number: proto.Int32(1), Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(), Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), JsonName: proto.String("id")},
				{Name: proto.String("payload"), Number: proto.Int32(2), Type: descriptorpb.FieldDescriptorProto_TYPE_BYTES.Enum(), Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), JsonName: proto.String("payload")},
			},
		}
	}
	file := &descriptorpb.FileDescriptorProto{
		Name:        proto.String(fmt.Sprintf("bench/f%03d/v1/f%03d.proto", n, n)),
		Package:     proto.String(pkg),
		Syntax:      proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{message("Request"), message("Response")},
		Options: &descriptorpb.FileOptions{
			GoPackage: proto.String(fmt.Sprintf("example.com/bench/f%03d/v1;f%03dv1", n, n)),
		},
	}
	for s := range services {
		service := &descriptorpb.ServiceDescriptorProto{Name: proto.String(fmt.Sprintf("Service%02d", s))}
		for variant := range 2 {
			for _, shape := range methodShapes {
				service.Method = append(service.Method, &descriptorpb.MethodDescriptorProto{
					Name:            proto.String(fmt.Sprintf("%s%d", shape.name, variant)),
					InputType:       proto.String("." + pkg + ".Request"),
					OutputType:      proto.String("." + pkg + ".Response"),
					ClientStreaming: proto.Bool(shape.clientStreams),
					ServerStreaming: proto.Bool(shape.serverStreams),
				})
			}
		}
		file.Service = append(file.Service, service)
	}
	return file
}
