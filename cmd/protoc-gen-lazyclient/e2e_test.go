package main_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lazyclient/lazyclient/gen"
)

// Pinned versions of the tools the end-to-end tests run, as in scripts/tools.sh.
const (
	bufPackage    = "github.com/bufbuild/buf/cmd/buf@v1.75.0"
	goGRPCPackage = "google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2"
)

var (
	pluginsOnce sync.Once
	pluginsDir  string
	pluginsErr  error
)

// plugins builds protoc-gen-lazyclient from this directory, protoc-gen-go
// from the module graph and the pinned protoc-gen-go-grpc, once per test
// binary, and returns the directory that holds them.
func plugins(t *testing.T) string {
	t.Helper()
	pluginsOnce.Do(func() {
		pluginsDir, pluginsErr = os.MkdirTemp("", "lazyclient-plugins-")
		if pluginsErr != nil {
			return
		}
		for _, args := range [][]string{
			{"build", "-o", filepath.Join(pluginsDir, "protoc-gen-lazyclient"), "."},
			{"build", "-o", filepath.Join(pluginsDir, "protoc-gen-go"), "google.golang.org/protobuf/cmd/protoc-gen-go"},
			{"install", goGRPCPackage},
		} {
			cmd := exec.Command("go", args...)
			cmd.Env = append(os.Environ(), "GOBIN="+pluginsDir)
			if out, err := cmd.CombinedOutput(); err != nil {
				pluginsErr = &commandError{cmd.Args, out, err}
				return
			}
		}
	})
	if pluginsErr != nil {
		t.Fatal(pluginsErr)
	}
	return pluginsDir
}

type commandError struct {
	args []string
	out  []byte
	err  error
}

func (e *commandError) Error() string {
	return strings.Join(e.args, " ") + ": " + e.err.Error() + "\n" + string(e.out)
}

// run runs a command in dir and returns its combined output.
func run(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatal(&commandError{cmd.Args, out, err})
	}
	return string(out)
}

// scratchModule makes a Go module, "scratch", that uses this repository's
// runtime, for generated code to be compiled in.
func scratchModule(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	goMod := "module scratch\n\ngo 1.26\n\nrequire github.com/lazyclient/lazyclient v0.0.0\n\nreplace github.com/lazyclient/lazyclient => " + root + "\n"
	write(t, filepath.Join(dir, "go.mod"), goMod)
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "go.sum"), string(sum))
	return dir
}

func write(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// echoCheck asserts, at compile time, that the lazy client generated for
// echo.proto drops in for protoc-gen-go-grpc's.
const echoCheck = `package check

import (
	echov1 "scratch/echo/v1"
	"scratch/echo/v1/echov1lazy"
)

var _ echov1.EchoServiceClient = echov1lazy.EchoServiceClient(nil)
`

// compile builds and vets every package of the scratch module.
func compile(t *testing.T, dir string) {
	t.Helper()
	run(t, dir, "go", "mod", "tidy")
	run(t, dir, "go", "vet", "./...")
}

func TestVersion(t *testing.T) {
	out := run(t, ".", filepath.Join(plugins(t), "protoc-gen-lazyclient"), "--version")
	if want := "protoc-gen-lazyclient " + gen.Version + "\n"; out != want {
		t.Errorf("--version printed %q, want %q", out, want)
	}
}

func TestProtoc(t *testing.T) {
	if _, err := exec.LookPath("protoc"); err != nil {
		t.Fatal("protoc is not installed: install Debian's protobuf-compiler (scripts/test.sh does)")
	}
	bin := plugins(t)
	dir := scratchModule(t)
	protoRoot, err := filepath.Abs("../../testdata/proto")
	if err != nil {
		t.Fatal(err)
	}
	opt := "module=scratch,Mecho/v1/echo.proto=scratch/echo/v1;echov1"
	run(t, dir, "protoc", "-I", protoRoot,
		"--plugin=protoc-gen-go="+filepath.Join(bin, "protoc-gen-go"),
		"--plugin=protoc-gen-go-grpc="+filepath.Join(bin, "protoc-gen-go-grpc"),
		"--plugin=protoc-gen-lazyclient="+filepath.Join(bin, "protoc-gen-lazyclient"),
		"--go_out=.", "--go_opt="+opt,
		"--go-grpc_out=.", "--go-grpc_opt="+opt,
		"--lazyclient_out=.", "--lazyclient_opt="+opt,
		"echo/v1/echo.proto")
	generated, err := os.ReadFile(filepath.Join(dir, "echo/v1/echov1lazy/echo_lazy.pb.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(generated, []byte("// - protoc                v3.")) {
		t.Errorf("the header does not name protoc's version:\n%s", generated[:300])
	}
	write(t, filepath.Join(dir, "check/check.go"), echoCheck)
	compile(t, dir)
}

// edition2024 uses the newest edition, which protocompile cannot compile but
// buf can.
const edition2024 = `edition = "2024";

package ed.v1;

option go_package = "scratch/ed/v1;edv1";

// Greeter greets.
service Greeter {
  // Hello says hello.
  rpc Hello(HelloRequest) returns (HelloResponse);
  // Watch streams greetings.
  rpc Watch(stream HelloRequest) returns (stream HelloResponse);
}

message HelloRequest {
  string name = 1;
}

message HelloResponse {
  string greeting = 1;
}
`

const edition2024Check = `package check

import (
	edv1 "scratch/ed/v1"
	"scratch/ed/v1/edv1lazy"
)

var _ edv1.GreeterClient = edv1lazy.GreeterClient(nil)
`

func TestBufGenerate(t *testing.T) {
	bin := plugins(t)
	dir := scratchModule(t)
	echo, err := os.ReadFile("../../testdata/proto/echo/v1/echo.proto")
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "proto/echo/v1/echo.proto"), strings.Replace(string(echo),
		`option go_package = "github.com/lazyclient/lazyclient/testdata/gen/echo/v1;echov1";`,
		`option go_package = "scratch/echo/v1;echov1";`, 1))
	write(t, filepath.Join(dir, "proto/ed/v1/ed.proto"), edition2024)
	write(t, filepath.Join(dir, "buf.yaml"), "version: v2\nmodules:\n  - path: proto\n")
	var genYAML strings.Builder
	genYAML.WriteString("version: v2\nplugins:\n")
	for _, p := range []string{"protoc-gen-go", "protoc-gen-go-grpc", "protoc-gen-lazyclient"} {
		genYAML.WriteString("  - local: " + filepath.Join(bin, p) + "\n    out: .\n    opt: module=scratch\n")
	}
	write(t, filepath.Join(dir, "buf.gen.yaml"), genYAML.String())
	run(t, dir, "go", "run", bufPackage, "generate")

	for _, f := range []string{"echo/v1/echov1lazy/echo_lazy.pb.go", "ed/v1/edv1lazy/ed_lazy.pb.go"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("buf generate did not write %s: %v", f, err)
		}
	}
	write(t, filepath.Join(dir, "check/echo.go"), echoCheck)
	write(t, filepath.Join(dir, "check/ed.go"), edition2024Check)
	compile(t, dir)
}
