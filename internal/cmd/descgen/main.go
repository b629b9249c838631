// Command descgen runs the generator on .proto files whose descriptors are
// compiled into Go packages this module imports, for services whose .proto
// sources are not at hand, such as grpc-go's interop TestService. It writes
// the generated files under -out, as protoc would.
//
//	go run ./internal/cmd/descgen -out . -param 'module=...,M...' grpc/testing/test.proto
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lazyclient/lazyclient/gen"
	"github.com/lazyclient/lazyclient/internal/pluginreq"
	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/pluginpb"

	// The descriptors this command can generate from.
	_ "google.golang.org/grpc/interop/grpc_testing"
)

func main() {
	out := flag.String("out", ".", "directory to write the generated files under")
	param := flag.String("param", "", "the plugin parameter, as protoc's --lazyclient_opt")
	flag.Parse()
	if err := run(*out, *param, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "descgen:", err)
		os.Exit(1)
	}
}

func run(out, param string, files []string) error {
	if len(files) == 0 {
		return fmt.Errorf("no .proto file named")
	}
	req, err := request(param, files)
	if err != nil {
		return err
	}
	params := gen.NewParams()
	plugin, err := protogen.Options{ParamFunc: params.Set}.New(req)
	if err != nil {
		return err
	}
	if err := gen.Generate(plugin, params); err != nil {
		return err
	}
	for _, f := range plugin.Response().GetFile() {
		name := filepath.Join(out, filepath.FromSlash(f.GetName()))
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(name, []byte(f.GetContent()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// request builds a CodeGeneratorRequest for files from the global registry.
func request(param string, files []string) (*pluginpb.CodeGeneratorRequest, error) {
	fds := make([]protoreflect.FileDescriptor, len(files))
	for i, name := range files {
		fd, err := protoregistry.GlobalFiles.FindFileByPath(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w (is its Go package imported by descgen?)", name, err)
		}
		fds[i] = fd
	}
	return pluginreq.New(param, fds...), nil
}
