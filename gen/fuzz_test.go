package gen_test

import (
	"go/parser"
	"go/token"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/pluginpb"
)

// fuzzSeeds are the requests the fuzz tests start from: every kind of input
// the goldens cover.
var fuzzSeeds = [][]string{
	{"echo/v1/echo.proto"},
	{"policy/v1/policy.proto"},
	{"samepkg/v1/samepkg.proto", "samepkg/v1/more.proto"},
	{"editions/proto2/v1/legacy.proto"},
	{"editions/ed2023/v1/ed.proto"},
	{"names/keywords/v1/keywords.proto"},
	{"names/twopkgs/v1/twopkgs.proto"},
	{"names/underscore/v1/underscore.proto"},
}

// checkResponse fails unless resp is an error alone or Go files that
// parse.
func checkResponse(t *testing.T, resp *pluginpb.CodeGeneratorResponse) {
	t.Helper()
	if resp.Error != nil {
		if len(resp.File) != 0 {
			t.Errorf("error %q and %d files", resp.GetError(), len(resp.File))
		}
		return
	}
	for _, f := range resp.File {
		if !strings.HasSuffix(f.GetName(), ".go") {
			continue // annotate_code's .meta files
		}
		if _, err := parser.ParseFile(token.NewFileSet(), f.GetName(), f.GetContent(), parser.SkipObjectResolution); err != nil {
			t.Errorf("%s does not parse: %v", f.GetName(), err)
		}
	}
}

// FuzzRequest feeds the generator mutated CodeGeneratorRequests, as bytes
// from protoc: it must answer with an error or Go source, never panic.
func FuzzRequest(f *testing.F) {
	for _, files := range fuzzSeeds {
		wire, err := proto.Marshal(request(f, "paths=source_relative", files...))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wire)
	}
	f.Fuzz(func(t *testing.T, wire []byte) {
		req := &pluginpb.CodeGeneratorRequest{}
		if err := proto.Unmarshal(wire, req); err != nil {
			return // protogen's Run reports this before the generator runs.
		}
		checkResponse(t, run(t, req))
	})
}

// FuzzParameter runs the generator with mutated parameters.
func FuzzParameter(f *testing.F) {
	for _, parameter := range []string{
		"", "paths=source_relative", "paths=import", "module=github.com/lazyclient/lazyclient",
		"package_suffix=", "package_suffix", "package_suffix=client", "package_suffix=not-ok",
		"paths=source_relative,package_suffix=,Mecho/v1/echo.proto=example.com/e;e", "bogus=1", ",,=", "M=",
		"Mecho/v1/echo.proto=example.com/e", "annotate_code", "paths=source_relative,package_suffix=_",
	} {
		f.Add(parameter)
	}
	req := request(f, "", "echo/v1/echo.proto", "policy/v1/policy.proto")
	f.Fuzz(func(t *testing.T, parameter string) {
		req := proto.CloneOf(req)
		req.Parameter = proto.String(parameter)
		checkResponse(t, run(t, req))
	})
}
