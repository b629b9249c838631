package gen_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bufbuild/protocompile"
	"github.com/lazyclient/lazyclient/gen"
	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"
)

var update = flag.Bool("update", false, "rewrite the goldens from the generator's output")

const protoRoot = "../testdata/proto"

// request compiles the named files under protoRoot in-process, as protoc
// would, into a CodeGeneratorRequest.
func request(t testing.TB, parameter string, names ...string) *pluginpb.CodeGeneratorRequest {
	t.Helper()
	compiler := protocompile.Compiler{
		Resolver:       protocompile.WithStandardImports(&protocompile.SourceResolver{ImportPaths: []string{protoRoot}}),
		SourceInfoMode: protocompile.SourceInfoStandard,
	}
	files, err := compiler.Compile(context.Background(), names...)
	if err != nil {
		t.Fatalf("compile %v: %v", names, err)
	}
	req := &pluginpb.CodeGeneratorRequest{FileToGenerate: names, Parameter: proto.String(parameter)}
	seen := map[string]bool{}
	var add func(protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		for i := 0; i < fd.Imports().Len(); i++ {
			add(fd.Imports().Get(i).FileDescriptor)
		}
		req.ProtoFile = append(req.ProtoFile, protodesc.ToFileDescriptorProto(fd))
	}
	for _, f := range files {
		add(f)
	}
	return req
}

// run runs the generator on req as the plugin's main does.
func run(t testing.TB, req *pluginpb.CodeGeneratorRequest) *pluginpb.CodeGeneratorResponse {
	t.Helper()
	params := gen.NewParams()
	plugin, err := protogen.Options{ParamFunc: params.Set}.New(req)
	if err != nil {
		return &pluginpb.CodeGeneratorResponse{Error: proto.String(err.Error())}
	}
	if err := gen.Generate(plugin, params); err != nil {
		plugin.Error(err)
	}
	return plugin.Response()
}

func TestGolden(t *testing.T) {
	tests := []struct {
		name      string
		parameter string
		files     []string
	}{
		{"echo", "paths=source_relative", []string{"echo/v1/echo.proto"}},
		{"samepkg", "paths=source_relative,package_suffix=", []string{"samepkg/v1/samepkg.proto"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := run(t, request(t, tt.parameter, tt.files...))
			if resp.Error != nil {
				t.Fatalf("generator error: %s", resp.GetError())
			}
			dir := filepath.Join("..", "testdata", "golden", tt.name)
			if *update {
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
			}
			for _, f := range resp.File {
				golden := filepath.Join(dir, f.GetName()+".golden")
				if *update {
					if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(golden, []byte(f.GetContent()), 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test ./gen -run TestGolden -update)", err)
				}
				if f.GetContent() != string(want) {
					t.Errorf("%s differs from %s; run go test ./gen -run TestGolden -update and review the diff", f.GetName(), golden)
				}
			}
		})
	}
}

func TestSupportedFeatures(t *testing.T) {
	resp := run(t, request(t, "", "echo/v1/echo.proto"))
	want := uint64(pluginpb.CodeGeneratorResponse_FEATURE_PROTO3_OPTIONAL | pluginpb.CodeGeneratorResponse_FEATURE_SUPPORTS_EDITIONS)
	if resp.GetSupportedFeatures() != want {
		t.Errorf("supported features = %b, want %b", resp.GetSupportedFeatures(), want)
	}
	if resp.GetMinimumEdition() != int32(descriptorpb.Edition_EDITION_PROTO2) || resp.GetMaximumEdition() != int32(descriptorpb.Edition_EDITION_2024) {
		t.Errorf("editions = %d..%d, want PROTO2..2024", resp.GetMinimumEdition(), resp.GetMaximumEdition())
	}
}

func TestOutputPlacement(t *testing.T) {
	tests := []struct {
		parameter string
		want      string
	}{
		{"", "github.com/lazyclient/lazyclient/testdata/gen/echo/v1/echov1lazy/echo_lazy.pb.go"},
		{"paths=source_relative", "echo/v1/echov1lazy/echo_lazy.pb.go"},
		{"module=github.com/lazyclient/lazyclient", "testdata/gen/echo/v1/echov1lazy/echo_lazy.pb.go"},
		{"paths=source_relative,package_suffix=client", "echo/v1/echov1client/echo_lazy.pb.go"},
		{"paths=source_relative,package_suffix=", "echo/v1/echo_lazy.pb.go"},
		{"paths=source_relative,Mecho/v1/echo.proto=example.com/other;otherpb", "echo/v1/otherpblazy/echo_lazy.pb.go"},
	}
	for _, tt := range tests {
		resp := run(t, request(t, tt.parameter, "echo/v1/echo.proto"))
		if resp.Error != nil {
			t.Errorf("%q: %s", tt.parameter, resp.GetError())
			continue
		}
		if len(resp.File) != 1 || resp.File[0].GetName() != tt.want {
			var got []string
			for _, f := range resp.File {
				got = append(got, f.GetName())
			}
			t.Errorf("%q: files %v, want [%s]", tt.parameter, got, tt.want)
		}
	}
}

func TestBadParameters(t *testing.T) {
	tests := []struct {
		parameter string
		want      string
	}{
		{"package_suffix=not-an-identifier", `package_suffix="not-an-identifier": not a Go identifier`},
		{"bogus=1", `unknown parameter "bogus"`},
	}
	for _, tt := range tests {
		resp := run(t, request(t, tt.parameter, "echo/v1/echo.proto"))
		if got := resp.GetError(); !strings.Contains(got, tt.want) {
			t.Errorf("%q: error %q, want it to contain %q", tt.parameter, got, tt.want)
		}
		if len(resp.File) != 0 {
			t.Errorf("%q: %d files generated despite the error", tt.parameter, len(resp.File))
		}
	}
}
