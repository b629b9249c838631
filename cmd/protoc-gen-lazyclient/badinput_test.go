package main_test

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"
)

// pluginRun is what one run of the plugin binary did.
type pluginRun struct {
	exitCode int
	stderr   string
	response *pluginpb.CodeGeneratorResponse // nil unless it exited 0
}

// runPlugin runs the built plugin as protoc does, with stdin on its
// standard input.
func runPlugin(t *testing.T, stdin []byte) pluginRun {
	t.Helper()
	cmd := exec.Command(filepath.Join(plugins(t), "protoc-gen-lazyclient"))
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	r := pluginRun{exitCode: cmd.ProcessState.ExitCode(), stderr: stderr.String()}
	if strings.Contains(r.stderr, "panic") {
		t.Fatalf("the plugin panicked:\n%s", r.stderr)
	}
	if r.exitCode == 0 {
		r.response = &pluginpb.CodeGeneratorResponse{}
		if err := proto.Unmarshal(stdout.Bytes(), r.response); err != nil {
			t.Fatalf("the plugin exited 0 without a response: %v", err)
		}
	}
	return r
}

// oneService is a request for a file with one service and, if goPackage is
// not empty, that go_package.
func oneService(parameter, goPackage string) []byte {
	file := &descriptorpb.FileDescriptorProto{
		Name:        proto.String("svc/v1/svc.proto"),
		Package:     proto.String("svc.v1"),
		Syntax:      proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("M")}},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: proto.String("S"),
			Method: []*descriptorpb.MethodDescriptorProto{{
				Name: proto.String("Call"), InputType: proto.String(".svc.v1.M"), OutputType: proto.String(".svc.v1.M"),
			}},
		}},
	}
	if goPackage != "" {
		file.Options = &descriptorpb.FileOptions{GoPackage: proto.String(goPackage)}
	}
	req, err := proto.Marshal(&pluginpb.CodeGeneratorRequest{
		FileToGenerate: []string{file.GetName()},
		Parameter:      proto.String(parameter),
		ProtoFile:      []*descriptorpb.FileDescriptorProto{file},
	})
	if err != nil {
		panic(err)
	}
	return req
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name   string
		stdin  []byte
		stderr string
	}{
		{"not a CodeGeneratorRequest", []byte("\xff\xff\xff\xff"), "cannot parse invalid wire-format data"},
		{"a file without a Go package", oneService("", ""), `unable to determine Go import path for "svc/v1/svc.proto"`},
		{"an unknown parameter", oneService("bogus", "example.com/svc/v1;svcv1"), `unknown parameter "bogus"`},
		{"an invalid package_suffix", oneService("package_suffix=x.y", "example.com/svc/v1;svcv1"), `package_suffix="x.y": not a Go identifier`},
		{"an M mapping without an import path", oneService("Msvc/v1/svc.proto", ""), `unable to determine Go import path for "svc/v1/svc.proto"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runPlugin(t, tt.stdin)
			if r.exitCode != 1 || !strings.HasPrefix(r.stderr, "protoc-gen-lazyclient: ") || !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("exit %d, stderr %q; want exit 1 and an error containing %q", r.exitCode, r.stderr, tt.stderr)
			}
		})
	}
}

// A request built by hand, without source info or comments, generates.
func TestHandBuiltRequest(t *testing.T) {
	r := runPlugin(t, oneService("paths=source_relative", "example.com/svc/v1;svcv1"))
	if r.exitCode != 0 || r.response.Error != nil || len(r.response.File) != 1 || r.response.File[0].GetName() != "svc/v1/svcv1lazy/svc_lazy.pb.go" {
		t.Errorf("exit %d, stderr %q, response %v; want svc/v1/svcv1lazy/svc_lazy.pb.go", r.exitCode, r.stderr, r.response)
	}
}
