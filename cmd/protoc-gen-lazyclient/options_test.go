package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// protocVersionLine is the header line that names the compiler, the one
// line where protoc's output and the checked-in (buf's) may differ.
var protocVersionLine = regexp.MustCompile(`(?m)^// - protoc .*$`)

// TestProtocReadsTheOptions compiles policy.proto with protoc, importing
// lazyclient/v1/options.proto through -I as the README shows, and expects
// the stubs that scripts/generate.sh made through buf: the same call policy
// in every MethodDesc.
func TestProtocReadsTheOptions(t *testing.T) {
	if _, err := exec.LookPath("protoc"); err != nil {
		t.Fatal("protoc is not installed: install Debian's protobuf-compiler (scripts/test.sh does)")
	}
	out := t.TempDir()
	run(t, "../..", "protoc", "-I", "testdata/proto", "-I", "proto",
		"--plugin=protoc-gen-lazyclient="+filepath.Join(plugins(t), "protoc-gen-lazyclient"),
		"--lazyclient_out="+out, "--lazyclient_opt=paths=source_relative",
		"policy/v1/policy.proto")
	const stub = "policy/v1/policyv1lazy/policy_lazy.pb.go"
	got, err := os.ReadFile(filepath.Join(out, stub))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("../../testdata/gen", stub))
	if err != nil {
		t.Fatal(err)
	}
	if protocVersionLine.ReplaceAllString(string(got), "") != protocVersionLine.ReplaceAllString(string(want), "") {
		t.Errorf("protoc's %s differs from testdata/gen's:\n%s", stub, got)
	}
}
