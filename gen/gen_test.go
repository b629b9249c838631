package gen_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bufbuild/protocompile"
	"github.com/lazyclient/lazyclient/gen"
	"github.com/lazyclient/lazyclient/internal/pluginreq"
	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/proto"
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
	fds := make([]protoreflect.FileDescriptor, len(files))
	for i, f := range files {
		fds[i] = f
	}
	req := pluginreq.New(parameter, fds...)
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
		{"samepkg", "paths=source_relative,package_suffix=", []string{"samepkg/v1/samepkg.proto", "samepkg/v1/more.proto"}},
		{"policy", "paths=source_relative", []string{"policy/v1/policy.proto"}},
		{"proto2", "paths=source_relative", []string{"editions/proto2/v1/legacy.proto"}},
		{"edition2023", "paths=source_relative", []string{"editions/ed2023/v1/ed.proto"}},
		{"keywords", "paths=source_relative", []string{"names/keywords/v1/keywords.proto"}},
		{"lookalike", "paths=source_relative", []string{"names/lookalike/v1/lookalike.proto"}},
		{"twopkgs", "paths=source_relative", []string{"names/twopkgs/v1/twopkgs.proto"}},
		{"underscore", "paths=source_relative", []string{"names/underscore/v1/underscore.proto"}},
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
		{"package_suffix=func", `package_suffix="func": not a Go identifier`},
		{"bogus=1", `unknown parameter "bogus" (known: package_suffix, and protogen's paths, module, M, annotate_code)`},
		{"paths=elsewhere", `unknown path type "elsewhere": want "import" or "source_relative"`},
		{"annotate_code=maybe", `bad value for parameter "annotate_code": want "true" or "false"`},
	}
	for _, tt := range tests {
		t.Run(tt.parameter, func(t *testing.T) {
			wantError(t, run(t, request(t, tt.parameter, "echo/v1/echo.proto")), tt.want)
		})
	}
}

// compileSources compiles .proto files given as text, named in/0.proto,
// in/1.proto and so on, which may import each other, the options and the
// well-known types, into a CodeGeneratorRequest to generate them all.
func compileSources(t testing.TB, parameter string, sources ...string) *pluginpb.CodeGeneratorRequest {
	t.Helper()
	files := map[string]string{}
	var names []string
	for i, source := range sources {
		name := fmt.Sprintf("in/%d.proto", i)
		files[name] = source
		names = append(names, name)
	}
	return compileRequest(t, protocompile.CompositeResolver{
		&protocompile.SourceResolver{Accessor: protocompile.SourceAccessorFromMap(files)},
		&protocompile.SourceResolver{ImportPaths: importPaths},
	}, parameter, names...)
}

// wantError fails unless resp is exactly the error want, without files.
func wantError(t *testing.T, resp *pluginpb.CodeGeneratorResponse, want string) {
	t.Helper()
	if got := resp.GetError(); got != want {
		t.Errorf("error\n%s\nwant\n%s", got, want)
	}
	if len(resp.File) != 0 {
		t.Errorf("%d files generated despite the error", len(resp.File))
	}
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
		"in/0.proto: method bad.v1.S.Call: option (lazyclient.v1.method_policy).timeout -1s is negative: give a positive duration, or zero for no default timeout",
	}, {
		"negative nanos",
		`service S { rpc Call(M) returns (M) { option (lazyclient.v1.method_policy).timeout = {nanos: -5}; } }`,
		"in/0.proto: method bad.v1.S.Call: option (lazyclient.v1.method_policy).timeout -5ns is negative: give a positive duration, or zero for no default timeout",
	}, {
		"signs differ, on the service",
		`service S { option (lazyclient.v1.service_policy).timeout = {seconds: 1, nanos: -1}; rpc Call(M) returns (M); }`,
		"in/0.proto: service bad.v1.S: option (lazyclient.v1.service_policy).timeout {seconds: 1, nanos: -1} is not a valid duration: seconds and nanos must have the same sign, and nanos at most 999999999 in magnitude",
	}, {
		"on a service without methods",
		`service S { option (lazyclient.v1.service_policy).timeout = {seconds: -2}; }`,
		"in/0.proto: service bad.v1.S: option (lazyclient.v1.service_policy).timeout -2s is negative: give a positive duration, or zero for no default timeout",
	}, {
		"nanos out of range",
		`service S { rpc Call(M) returns (M) { option (lazyclient.v1.method_policy).timeout = {nanos: 1000000000}; } }`,
		"in/0.proto: method bad.v1.S.Call: option (lazyclient.v1.method_policy).timeout {seconds: 0, nanos: 1000000000} is not a valid duration: seconds and nanos must have the same sign, and nanos at most 999999999 in magnitude",
	}, {
		"longer than a time.Duration",
		`service S { rpc Call(M) returns (M) { option (lazyclient.v1.method_policy).timeout = {seconds: 9223372036, nanos: 854775808}; } }`,
		"in/0.proto: method bad.v1.S.Call: option (lazyclient.v1.method_policy).timeout {seconds: 9223372036, nanos: 854775808} is longer than the longest Go time.Duration, 2562047h47m16.854775807s",
	}, {
		"beyond a valid duration",
		`service S { rpc Call(M) returns (M) { option (lazyclient.v1.method_policy).timeout = {seconds: 315576000001}; } }`,
		"in/0.proto: method bad.v1.S.Call: option (lazyclient.v1.method_policy).timeout {seconds: 315576000001, nanos: 0} is not a valid duration: seconds and nanos must have the same sign, and nanos at most 999999999 in magnitude",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, run(t, compileSources(t, "", header+tt.proto)), tt.want)
		})
	}
	// The longest time.Duration itself is accepted.
	resp := run(t, compileSources(t, "", header+
		`service S { rpc Call(M) returns (M) { option (lazyclient.v1.method_policy).timeout = {seconds: 9223372036, nanos: 854775807}; } }`))
	if resp.Error != nil || len(resp.File) != 1 || !strings.Contains(resp.File[0].GetContent(), "Timeout:    time.Duration(9223372036854775807),") {
		t.Errorf("the longest time.Duration: error %q, files %d", resp.GetError(), len(resp.File))
	}
}

func TestNameCollisions(t *testing.T) {
	const header = `syntax = "proto3";
package x.v1;
option go_package = "example.com/x/v1;xv1";
message M {}
`
	tests := []struct {
		name      string
		parameter string
		protos    []string
		want      string
	}{{
		"service named like another's constructor", "",
		[]string{header + `service Foo { rpc Call(M) returns (M); } service NewFoo { rpc Call(M) returns (M); }`},
		"service x.v1.NewFoo in in/0.proto: generated name NewFooClient collides with service x.v1.Foo in in/0.proto",
	}, {
		"names that camel-case alike", "",
		[]string{header + `service foo_bar { rpc Call(M) returns (M); } service FooBar { rpc Call(M) returns (M); }`},
		"service x.v1.FooBar in in/0.proto: generated name FooBarClient collides with service x.v1.foo_bar in in/0.proto",
	}, {
		"methods that camel-case alike", "",
		[]string{header + `service Foo { rpc get_thing(M) returns (M); rpc GetThing(M) returns (M); }`},
		"service x.v1.Foo in in/0.proto: methods get_thing and GetThing both have the Go name GetThing",
	}, {
		"underscores that meet in a method description", "",
		[]string{header + `service A_B { rpc C(M) returns (M); } service A { rpc B_C(M) returns (M); }`},
		"service x.v1.A in in/0.proto: generated name A_B_C_MethodDesc collides with service x.v1.A_B in in/0.proto",
	}, {
		"an import named like the client's struct", "",
		[]string{
			`syntax = "proto3"; package x.v1; import "in/1.proto"; option go_package = "example.com/x/v1;xv1";
			service Foo { rpc Call(y.v1.M) returns (y.v1.M); }`,
			`syntax = "proto3"; package y.v1; option go_package = "example.com/y/fooClient;y"; message M {}`,
		},
		"in/0.proto: the stubs import \"example.com/y/fooClient\", for message y.v1.M, as fooClient, which is the name of service x.v1.Foo in in/0.proto; change that message's go_package or the service's name",
	}, {
		"an import named like the client's struct in another file of the package", "",
		[]string{
			`syntax = "proto3"; package x.v1; import "in/2.proto"; option go_package = "example.com/x/v1;xv1";
			service Foo { rpc Call(z.v1.M) returns (z.v1.M); }`,
			header + `service Bar { rpc Call(M) returns (M); }`,
			`syntax = "proto3"; package z.v1; option go_package = "example.com/z/barClient;z"; message M {}`,
		},
		`in/0.proto: the stubs import "example.com/z/barClient", for message z.v1.M, as barClient, which is the name of service x.v1.Bar in in/1.proto; change that message's go_package or the service's name`,
	}, {
		"beside go-grpc, a service named like another's lazy client", "package_suffix=",
		[]string{header + `service Foo { rpc Call(M) returns (M); } service FooLazy { rpc Call(M) returns (M); }`},
		"service x.v1.Foo in in/0.proto: generated name FooLazyClient collides with protoc-gen-go-grpc's code for service x.v1.FooLazy in in/0.proto",
	}, {
		"beside go-grpc, a message named like the lazy client", "package_suffix=",
		[]string{header + `service Foo { rpc Call(M) returns (M); } message FooLazyClient {}`},
		"service x.v1.Foo in in/0.proto: generated name FooLazyClient collides with message x.v1.FooLazyClient in in/0.proto",
	}, {
		"beside go-grpc, in another file of the package", "package_suffix=",
		[]string{
			header + `import "in/1.proto"; service Foo { rpc Call(M) returns (M); }`,
			`syntax = "proto3"; package x.v1; option go_package = "example.com/x/v1;xv1"; enum E { E_UNSPECIFIED = 0; } message Foo_Call_MethodDesc {}`,
		},
		"service x.v1.Foo in in/0.proto: generated name Foo_Call_MethodDesc collides with message x.v1.Foo_Call_MethodDesc in in/1.proto",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, run(t, compileSources(t, tt.parameter, tt.protos...)), tt.want)
		})
	}
}

// TestGoldensMatchBuf compares every golden, made from protocompile's
// descriptors, with the file scripts/generate.sh made through buf for the
// same .proto: the two compilers must lead to the same output.
func TestGoldensMatchBuf(t *testing.T) {
	goldens, err := filepath.Glob("../testdata/golden/*")
	if err != nil {
		t.Fatal(err)
	}
	var compared int
	for _, dir := range goldens {
		err := filepath.WalkDir(dir, func(name string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, err := filepath.Rel(dir, name)
			if err != nil {
				return err
			}
			fromBuf := filepath.Join("../testdata/gen", strings.TrimSuffix(rel, ".golden"))
			golden, err := os.ReadFile(name)
			if err != nil {
				return err
			}
			generated, err := os.ReadFile(fromBuf)
			if err != nil {
				return err
			}
			if string(golden) != string(generated) {
				t.Errorf("%s differs from %s", name, fromBuf)
			}
			compared++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if compared < len(goldens) {
		t.Errorf("compared %d files for %d goldens", compared, len(goldens))
	}
}

// TestPolicyFromANewerOptionsFile compiles against an options.proto with a
// field this generator does not know: the policy must not be half applied.
func TestPolicyFromANewerOptionsFile(t *testing.T) {
	options, err := os.ReadFile("../proto/lazyclient/v1/options.proto")
	if err != nil {
		t.Fatal(err)
	}
	newer := strings.Replace(string(options), "google.protobuf.Duration timeout = 2;",
		"google.protobuf.Duration timeout = 2;\n  uint32 max_attempts = 3;", 1)
	if newer == string(options) {
		t.Fatal("options.proto no longer declares timeout as field 2")
	}
	resolver := &protocompile.SourceResolver{Accessor: protocompile.SourceAccessorFromMap(map[string]string{
		"lazyclient/v1/options.proto": newer,
		"in/0.proto": `syntax = "proto3"; package x.v1; import "lazyclient/v1/options.proto"; option go_package = "example.com/x/v1;xv1";
			message M {}
			service S { rpc Call(M) returns (M) { option (lazyclient.v1.method_policy) = {timeout: {seconds: 1}, max_attempts: 3}; } }`,
	})}
	wantError(t, run(t, compileRequest(t, resolver, "", "in/0.proto")),
		"in/0.proto: method x.v1.S.Call: option (lazyclient.v1.method_policy): sets fields that protoc-gen-lazyclient v"+gen.Version+
			" does not know; use the options.proto of this version, or a newer protoc-gen-lazyclient")
}
