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

// importPaths are the -I directories of the test protos: theirs and the
// options' module.
var importPaths = []string{"../testdata/proto", "../proto"}

// request compiles the named files under importPaths in-process, as protoc
// would, into a CodeGeneratorRequest.
func request(t testing.TB, parameter string, names ...string) *pluginpb.CodeGeneratorRequest {
	t.Helper()
	return compileRequest(t, &protocompile.SourceResolver{ImportPaths: importPaths}, parameter, names...)
}

// compileRequest compiles the named files from resolver into a
// CodeGeneratorRequest, and passes it through the wire format, as protoc
// hands it to a plugin.
func compileRequest(t testing.TB, resolver protocompile.Resolver, parameter string, names ...string) *pluginpb.CodeGeneratorRequest {
	t.Helper()
	compiler := protocompile.Compiler{
		Resolver:       protocompile.WithStandardImports(resolver),
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
	wire, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	parsed := &pluginpb.CodeGeneratorRequest{}
	if err := proto.Unmarshal(wire, parsed); err != nil {
		t.Fatal(err)
	}
	return parsed
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
		{"policy", "paths=source_relative", []string{"policy/v1/policy.proto"}},
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

// compileSource compiles one .proto given as text, which may import the
// options and the well-known types, into a CodeGeneratorRequest.
func compileSource(t testing.TB, parameter, name, source string) *pluginpb.CodeGeneratorRequest {
	t.Helper()
	return compileRequest(t, protocompile.CompositeResolver{
		&protocompile.SourceResolver{Accessor: protocompile.SourceAccessorFromMap(map[string]string{name: source})},
		&protocompile.SourceResolver{ImportPaths: importPaths},
	}, parameter, name)
}

func TestInvalidPolicy(t *testing.T) {
	const header = `syntax = "proto3";
package bad.v1;
import "lazyclient/v1/options.proto";
option go_package = "example.com/bad/v1;badv1";
message M {}
`
	tests := []struct {
		name  string
		proto string
		want  string
	}{{
		"negative method timeout",
		`service S { rpc Call(M) returns (M) { option (lazyclient.v1.method_policy).timeout = {seconds: -1}; } }`,
		"bad/v1/bad.proto: method bad.v1.S.Call: option (lazyclient.v1.method_policy).timeout -1s is negative: give a positive duration, or zero for no default timeout",
	}, {
		"negative nanos",
		`service S { rpc Call(M) returns (M) { option (lazyclient.v1.method_policy).timeout = {nanos: -5}; } }`,
		"bad/v1/bad.proto: method bad.v1.S.Call: option (lazyclient.v1.method_policy).timeout -5ns is negative: give a positive duration, or zero for no default timeout",
	}, {
		"signs differ, on the service",
		`service S { option (lazyclient.v1.service_policy).timeout = {seconds: 1, nanos: -1}; rpc Call(M) returns (M); }`,
		"bad/v1/bad.proto: service bad.v1.S: option (lazyclient.v1.service_policy).timeout {seconds: 1, nanos: -1} is not a valid duration: seconds and nanos must have the same sign, and nanos at most 999999999 in magnitude",
	}, {
		"nanos out of range",
		`service S { rpc Call(M) returns (M) { option (lazyclient.v1.method_policy).timeout = {nanos: 1000000000}; } }`,
		"bad/v1/bad.proto: method bad.v1.S.Call: option (lazyclient.v1.method_policy).timeout {seconds: 0, nanos: 1000000000} is not a valid duration: seconds and nanos must have the same sign, and nanos at most 999999999 in magnitude",
	}, {
		"longer than a time.Duration",
		`service S { rpc Call(M) returns (M) { option (lazyclient.v1.method_policy).timeout = {seconds: 9223372036, nanos: 854775808}; } }`,
		"bad/v1/bad.proto: method bad.v1.S.Call: option (lazyclient.v1.method_policy).timeout {seconds: 9223372036, nanos: 854775808} is longer than the longest Go time.Duration, 2562047h47m16.854775807s",
	}, {
		"beyond a valid duration",
		`service S { rpc Call(M) returns (M) { option (lazyclient.v1.method_policy).timeout = {seconds: 315576000001}; } }`,
		"bad/v1/bad.proto: method bad.v1.S.Call: option (lazyclient.v1.method_policy).timeout {seconds: 315576000001, nanos: 0} is not a valid duration: seconds and nanos must have the same sign, and nanos at most 999999999 in magnitude",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := run(t, compileSource(t, "", "bad/v1/bad.proto", header+tt.proto))
			if got := resp.GetError(); got != tt.want {
				t.Errorf("error\n%s\nwant\n%s", got, tt.want)
			}
			if len(resp.File) != 0 {
				t.Errorf("%d files generated despite the error", len(resp.File))
			}
		})
	}
	// The longest time.Duration itself is accepted.
	resp := run(t, compileSource(t, "", "bad/v1/bad.proto", header+
		`service S { rpc Call(M) returns (M) { option (lazyclient.v1.method_policy).timeout = {seconds: 9223372036, nanos: 854775807}; } }`))
	if resp.Error != nil || len(resp.File) != 1 || !strings.Contains(resp.File[0].GetContent(), "Timeout:    time.Duration(9223372036854775807),") {
		t.Errorf("the longest time.Duration: error %q, files %d", resp.GetError(), len(resp.File))
	}
}
