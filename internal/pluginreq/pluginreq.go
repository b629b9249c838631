// Package pluginreq builds the CodeGeneratorRequest that protoc would send a
// plugin, from descriptors already compiled, for tests and tools that run the
// generator in-process.
package pluginreq

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/pluginpb"
)

// New returns a request to generate files, carrying them and every file they
// import, each after its imports, as protoc orders them.
func New(parameter string, files ...protoreflect.FileDescriptor) *pluginpb.CodeGeneratorRequest {
	req := &pluginpb.CodeGeneratorRequest{Parameter: proto.String(parameter)}
	seen := map[string]bool{}
	var add func(protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		for i := range fd.Imports().Len() {
			add(fd.Imports().Get(i).FileDescriptor)
		}
		req.ProtoFile = append(req.ProtoFile, protodesc.ToFileDescriptorProto(fd))
	}
	for _, fd := range files {
		req.FileToGenerate = append(req.FileToGenerate, fd.Path())
		add(fd)
	}
	return req
}
