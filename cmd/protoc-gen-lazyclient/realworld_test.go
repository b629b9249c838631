package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// lazyInterface finds the client interfaces in a generated file: in the
// messages' own package, the service's Go name is the part before "Lazy".
var lazyInterface = regexp.MustCompile(`(?m)^type (\w+?)(Lazy)?Client interface`)

// TestBufRegistryProtos generates stubs for the protos of buf's own
// registry API, written elsewhere and shipped in the buf module that
// scripts/tools.sh installs, in a subpackage and in the messages' own
// package: every lazy client must compile beside protoc-gen-go-grpc's
// output and drop in for its client.
func TestBufRegistryProtos(t *testing.T) {
	bin := plugins(t)
	var module struct{ Dir string }
	out := run(t, ".", "go", "mod", "download", "-json", strings.Replace(bufPackage, "/cmd/buf@", "@", 1))
	if err := json.Unmarshal([]byte(out), &module); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []struct {
		name        string
		samePackage bool
		opt         string
	}{
		{"subpackage", false, ""},
		{"same package", true, "\n      - package_suffix="},
	} {
		t.Run(mode.name, func(t *testing.T) {
			dir := scratchModule(t)
			if err := os.CopyFS(filepath.Join(dir, "proto"), os.DirFS(filepath.Join(module.Dir, "proto"))); err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(dir, "buf.yaml"), "version: v2\nmodules:\n  - path: proto\n")
			// Managed mode gives the protos Go packages inside the scratch
			// module.
			write(t, filepath.Join(dir, "buf.gen.yaml"), `version: v2
managed:
  enabled: true
  override:
    - file_option: go_package_prefix
      value: scratch/gen
plugins:
  - local: `+filepath.Join(bin, "protoc-gen-go")+`
    out: gen
    opt: paths=source_relative
  - local: `+filepath.Join(bin, "protoc-gen-go-grpc")+`
    out: gen
    opt: paths=source_relative
  - local: `+filepath.Join(bin, "protoc-gen-lazyclient")+`
    out: gen
    opt:
      - paths=source_relative`+mode.opt+"\n")
			run(t, dir, "go", "run", bufPackage, "generate")
			imports, assertions := dropInChecks(t, dir, mode.samePackage)
			// buf's registry API has some thirty services; far fewer
			// means the input changed under the test.
			if len(assertions) < 25 {
				t.Fatalf("found %d lazy clients, want at least 25", len(assertions))
			}
			write(t, filepath.Join(dir, "check/check.go"), "package check\n\nimport (\n\t"+strings.Join(imports, "\n\t")+
				"\n)\n\nvar (\n\t"+strings.Join(assertions, "\n\t")+"\n)\n")
			compile(t, dir)
			t.Logf("%d lazy clients compile and drop in", len(assertions))
		})
	}
}

// dropInChecks returns imports and assertions, for a check file, that every
// lazy client generated under dir/gen is assignable to go-grpc's, which is in
// the parent package or, with samePackage, in the lazy client's.
func dropInChecks(t *testing.T, dir string, samePackage bool) (imports, assertions []string) {
	t.Helper()
	err := filepath.WalkDir(filepath.Join(dir, "gen"), func(name string, d os.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(name, "_lazy.pb.go") {
			return err
		}
		src, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		lazyDir, err := filepath.Rel(dir, filepath.Dir(name))
		if err != nil {
			return err
		}
		n := len(imports)
		lazyPkg := fmt.Sprintf("lazy%d", n)
		imports = append(imports, fmt.Sprintf("%s %q", lazyPkg, "scratch/"+filepath.ToSlash(lazyDir)))
		grpcPkg := lazyPkg
		if !samePackage {
			grpcPkg = fmt.Sprintf("grpc%d", n)
			imports = append(imports, fmt.Sprintf("%s %q", grpcPkg, "scratch/"+filepath.ToSlash(filepath.Dir(lazyDir))))
		}
		for _, m := range lazyInterface.FindAllStringSubmatch(string(src), -1) {
			service, lazy := m[1]+m[2], m[1]+m[2]
			if samePackage {
				service = m[1]
			}
			assertions = append(assertions, fmt.Sprintf("_ %s.%sClient = %s.%sClient(nil)", grpcPkg, service, lazyPkg, lazy))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(assertions)
	return imports, assertions
}
