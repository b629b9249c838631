// Command protoc-gen-lazyclient is a protoc plugin that generates lazy Go
// client stubs for gRPC services. Install it on PATH and run
//
//	protoc --go_out=. --go_opt=paths=source_relative \
//	       --lazyclient_out=. --lazyclient_opt=paths=source_relative foo.proto
//
// or use it as a local plugin of buf generate. Its parameters are described in
// the README.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/lazyclient/lazyclient/gen"
	"google.golang.org/protobuf/compiler/protogen"
)

func main() {
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Printf("protoc-gen-lazyclient %v\n", gen.Version)
		return
	}
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "protoc-gen-lazyclient: this is a protoc plugin; run it through protoc --lazyclient_out or buf generate")
		os.Exit(2)
	}
	params := gen.NewParams()
	protogen.Options{ParamFunc: params.Set}.Run(func(plugin *protogen.Plugin) error {
		return gen.Generate(plugin, params)
	})
}
