// Package gen is the generator behind protoc-gen-lazyclient: it turns the
// services of the .proto files in a protogen.Plugin into lazy Go client
// stubs built on the runtime package.
package gen

import (
	"fmt"
	"go/token"
	"math"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	lazyclientv1 "github.com/lazyclient/lazyclient/optionspb/lazyclient/v1"
	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/pluginpb"
)

// Version is the generator's version, written into every generated file.
const Version = "0.1.0"

// DefaultPackageSuffix is appended to the messages' Go package name to name
// the package of the stubs.
const DefaultPackageSuffix = "lazy"

const (
	contextPackage = protogen.GoImportPath("context")
	timePackage    = protogen.GoImportPath("time")
	grpcPackage    = protogen.GoImportPath("google.golang.org/grpc")
	runtimePackage = protogen.GoImportPath("github.com/lazyclient/lazyclient/runtime")
)

// fileSuffix ends the name of every generated file.
const fileSuffix = "_lazy.pb.go"

// Params are the plugin's own parameters; protogen handles the standard ones
// (paths, module, M..., annotate_code).
type Params struct {
	// PackageSuffix names the stubs' package: the messages' package name
	// plus the suffix, in a subdirectory of that name. Empty puts the
	// stubs in the messages' own package.
	PackageSuffix string
}

// NewParams returns the parameters' defaults.
func NewParams() *Params { return &Params{PackageSuffix: DefaultPackageSuffix} }

// Set sets one parameter; it is protogen.Options.ParamFunc.
func (p *Params) Set(name, value string) error {
	switch name {
	case "package_suffix":
		if value != "" && !token.IsIdentifier(value) {
			return fmt.Errorf("package_suffix=%q: not a Go identifier", value)
		}
		p.PackageSuffix = value
		return nil
	}
	return fmt.Errorf("unknown parameter %q (known: package_suffix, and protogen's paths, module, M, annotate_code)", name)
}

// Generate writes the stubs for every service in the files to generate.
func Generate(plugin *protogen.Plugin, params *Params) error {
	plugin.SupportedFeatures = uint64(pluginpb.CodeGeneratorResponse_FEATURE_PROTO3_OPTIONAL) |
		uint64(pluginpb.CodeGeneratorResponse_FEATURE_SUPPORTS_EDITIONS)
	plugin.SupportedEditionsMinimum = descriptorpb.Edition_EDITION_PROTO2
	plugin.SupportedEditionsMaximum = descriptorpb.Edition_EDITION_2024
	// Every file's identifiers are declared before any file is written, so
	// that an import of one file is checked against the identifiers of all
	// the files that share its package.
	type job struct {
		file  *protogen.File
		out   output
		names []serviceNames
	}
	var jobs []job
	scopes := newScopes(plugin, params)
	for _, file := range plugin.Files {
		if !file.Generate || len(file.Services) == 0 {
			continue
		}
		out := outputFor(file, params)
		names := make([]serviceNames, len(file.Services))
		for i, service := range file.Services {
			names[i] = newServiceNames(service, params.PackageSuffix == "")
			if err := scopes.declare(out.importPath, file, service, names[i]); err != nil {
				return err
			}
			defaults, err := servicePolicy(file, service)
			if err != nil {
				return err
			}
			for _, m := range service.Methods {
				if names[i].policies[m], err = methodPolicy(file, m, defaults); err != nil {
					return err
				}
			}
		}
		jobs = append(jobs, job{file, out, names})
	}
	for _, j := range jobs {
		g := generateFile(plugin, j.file, j.out, j.names)
		if err := scopes.checkImports(g, j.out.importPath, j.file, j.names); err != nil {
			return err
		}
	}
	return nil
}

// output is where a file's stubs go.
type output struct {
	filename    string
	importPath  protogen.GoImportPath
	packageName protogen.GoPackageName
}

// outputFor places the stubs as connect-go does: in subpackage
// <package><suffix> beside the messages, or, with no suffix, in the
// messages' own package.
func outputFor(file *protogen.File, params *Params) output {
	prefix := filepath.ToSlash(file.GeneratedFilenamePrefix)
	if params.PackageSuffix == "" {
		return output{prefix + fileSuffix, file.GoImportPath, file.GoPackageName}
	}
	pkg := file.GoPackageName + protogen.GoPackageName(params.PackageSuffix)
	return output{
		filename:    path.Join(path.Dir(prefix), string(pkg), path.Base(prefix)) + fileSuffix,
		importPath:  protogen.GoImportPath(path.Join(string(file.GoImportPath), string(pkg))),
		packageName: pkg,
	}
}

// serviceNames holds every Go identifier generated for one service.
type serviceNames struct {
	Client    string // the interface
	NewClient string // its constructor
	impl      string // the unexported struct behind it
	service   *protogen.Service
	// policies holds each method's call policy, checked before any code is
	// written.
	policies map[*protogen.Method]policy
}

// newServiceNames names a service's stubs. Beside protoc-gen-go-grpc's
// output, in the messages' own package, the names carry "Lazy" so that they
// cannot meet go-grpc's FooClient, NewFooClient and fooClient.
func newServiceNames(service *protogen.Service, samePackage bool) serviceNames {
	client := service.GoName + "Client"
	if samePackage {
		client = service.GoName + "LazyClient"
	}
	// The suffix keeps the lower-cased name clear of Go keywords.
	return serviceNames{
		Client:    client,
		NewClient: "New" + client,
		impl:      strings.ToLower(client[:1]) + client[1:],
		service:   service,
		policies:  map[*protogen.Method]policy{},
	}
}

// MethodDesc names the exported description of a method.
func (n serviceNames) MethodDesc(m *protogen.Method) string {
	return n.service.GoName + "_" + m.GoName + "_MethodDesc"
}

// field names the client struct's field for a method; the prefix keeps it
// apart from the method of the same name and from keywords.
func (serviceNames) field(m *protogen.Method) string { return "rpc" + m.GoName }

// identifiers lists the package-level identifiers generated for a service.
func (n serviceNames) identifiers() []string {
	ids := []string{n.Client, n.NewClient, n.impl}
	for _, m := range n.service.Methods {
		ids = append(ids, n.MethodDesc(m))
	}
	return ids
}

func generateFile(plugin *protogen.Plugin, file *protogen.File, out output, names []serviceNames) *protogen.GeneratedFile {
	g := plugin.NewGeneratedFile(out.filename, out.importPath)
	// Comments attached to the syntax or edition line, such as a license,
	// lead the file. protoc and buf record an edition line as the syntax
	// field, protocompile as the edition field.
	syntax := file.Desc.SourceLocations().ByPath(protoreflect.SourcePath{fileSyntaxField})
	if syntax.Path == nil {
		syntax = file.Desc.SourceLocations().ByPath(protoreflect.SourcePath{fileEditionField})
	}
	leadingComments(g, syntax)
	g.P("// Code generated by protoc-gen-lazyclient. DO NOT EDIT.")
	g.P("// versions:")
	g.P("// - protoc-gen-lazyclient v", Version)
	g.P("// - protoc                ", protocVersion(plugin))
	if file.Desc.Options().(*descriptorpb.FileOptions).GetDeprecated() {
		g.P("// ", file.Desc.Path(), " is a deprecated file.")
	} else {
		g.P("// source: ", file.Desc.Path())
	}
	g.P()
	leadingComments(g, file.Desc.SourceLocations().ByPath(protoreflect.SourcePath{filePackageField}))
	g.P("package ", out.packageName)
	g.P()
	g.P("// This is a compile-time assertion that this generated file is compatible")
	g.P("// with the runtime package it is compiled against.")
	g.P("const _ = ", runtimePackage.Ident("SupportPackageIsVersion1"))
	g.P()
	for _, n := range names {
		generateService(g, n)
	}
	return g
}

// Field numbers in FileDescriptorProto, for comments attached to them.
const (
	filePackageField = 2
	fileSyntaxField  = 12
	fileEditionField = 14
)

func generateService(g *protogen.GeneratedFile, n serviceNames) {
	service := n.service
	serviceDeprecated := service.Desc.Options().(*descriptorpb.ServiceOptions).GetDeprecated()

	if len(service.Methods) > 0 {
		g.P("// Descriptions of ", service.GoName, "'s methods: their names on the wire, kinds")
		g.P("// and call policy. Treat them as read-only.")
		g.P("var (")
		for _, m := range service.Methods {
			generateMethodDesc(g, n, m, n.policies[m])
		}
		g.P(")")
		g.P()
	}

	g.P("// ", n.Client, " is the client API for ", service.GoName, " service.")
	g.P("//")
	g.P("// Its calls are counted by the runtime.Conn they go through, and connect the")
	g.P("// Conn when it is IDLE.")
	if service.Comments.Leading != "" {
		g.P("//")
		g.P(comment(service.Comments.Leading))
	}
	if serviceDeprecated {
		g.P("//")
		g.P(deprecationComment)
	}
	g.AnnotateSymbol(n.Client, protogen.Annotation{Location: service.Location})
	g.P("type ", n.Client, " interface {")
	for _, m := range service.Methods {
		g.AnnotateSymbol(n.Client+"."+m.GoName, protogen.Annotation{Location: m.Location})
		methodComments(g, m)
		g.P(signature(g, m))
	}
	g.P("}")
	g.P()

	g.P("type ", n.impl, " struct {")
	for _, m := range service.Methods {
		g.P(n.field(m), " *", runtimePackage.Ident("Method"))
	}
	g.P("}")
	g.P()

	g.P("// ", n.NewClient, " returns the ", service.GoName, " client whose calls go through conn.")
	if serviceDeprecated {
		g.P("//")
		g.P(deprecationComment)
	}
	g.P("func ", n.NewClient, "(conn *", runtimePackage.Ident("Conn"), ") ", n.Client, " {")
	g.P("return &", n.impl, "{")
	for _, m := range service.Methods {
		g.P(n.field(m), ": conn.Method(&", n.MethodDesc(m), "),")
	}
	g.P("}")
	g.P("}")
	g.P()

	for _, m := range service.Methods {
		generateMethod(g, n, m)
	}
}

func generateMethodDesc(g *protogen.GeneratedFile, n serviceNames, m *protogen.Method, p policy) {
	opts := m.Desc.Options().(*descriptorpb.MethodOptions)
	g.P(n.MethodDesc(m), " = ", runtimePackage.Ident("MethodDesc"), "{")
	g.P("FullMethod: ", strconv.Quote(fmt.Sprintf("/%s/%s", m.Parent.Desc.FullName(), m.Desc.Name())), ",")
	g.P("Kind: ", runtimePackage.Ident(kindOf(m)), ",")
	if p.waitForReady {
		g.P("WaitForReady: true,")
	}
	if p.timeout > 0 {
		g.P("Timeout: ", durationLiteral(g, p.timeout), ",")
	}
	switch opts.GetIdempotencyLevel() {
	case descriptorpb.MethodOptions_NO_SIDE_EFFECTS:
		g.P("Idempotency: ", runtimePackage.Ident("NoSideEffects"), ",")
	case descriptorpb.MethodOptions_IDEMPOTENT:
		g.P("Idempotency: ", runtimePackage.Ident("Idempotent"), ",")
	}
	// A deprecated service deprecates each of its methods.
	if opts.GetDeprecated() || m.Parent.Desc.Options().(*descriptorpb.ServiceOptions).GetDeprecated() {
		g.P("Deprecated: true,")
	}
	g.P("}")
}

// policy is the call policy of a method.
type policy struct {
	waitForReady bool
	timeout      time.Duration
}

// servicePolicy returns the default call policy of a service's methods, set
// with (lazyclient.v1.service_policy).
func servicePolicy(file *protogen.File, service *protogen.Service) (policy, error) {
	var p policy
	err := p.override(file, "service", service.Desc.FullName(), service.Desc.Options(), lazyclientv1.E_ServicePolicy)
	return p, err
}

// methodPolicy returns a method's call policy: its service's, overridden
// field by field by (lazyclient.v1.method_policy).
func methodPolicy(file *protogen.File, m *protogen.Method, service policy) (policy, error) {
	p := service
	err := p.override(file, "method", m.Desc.FullName(), m.Desc.Options(), lazyclientv1.E_MethodPolicy)
	return p, err
}

// override sets the fields of p that the CallPolicy extension ext sets in
// the options of the service or method name. An invalid timeout, or a
// policy field this generator does not know, is an error naming the file
// and the service or method.
func (p *policy) override(file *protogen.File, kind string, name protoreflect.FullName, opts proto.Message, ext protoreflect.ExtensionType) error {
	cp, err := callPolicy(opts, ext)
	if err != nil {
		return fmt.Errorf("%s: %s %s: option (%s): %v", file.Desc.Path(), kind, name, ext.TypeDescriptor().FullName(), err)
	}
	if cp.WaitForReady != nil {
		p.waitForReady = cp.GetWaitForReady()
	}
	if cp.Timeout != nil {
		if p.timeout, err = timeoutOf(cp.Timeout); err != nil {
			return fmt.Errorf("%s: %s %s: option (%s).timeout %v", file.Desc.Path(), kind, name, ext.TypeDescriptor().FullName(), err)
		}
	}
	return nil
}

// callPolicy reads the CallPolicy extension ext from service or method
// options; it is empty when the options do not set it. The options go
// through the wire format first: whoever parsed them may not have known the
// extension (it is then an unknown field) or may have built it as a dynamic
// message, and either would otherwise be missed or fail to convert.
func callPolicy(opts proto.Message, ext protoreflect.ExtensionType) (*lazyclientv1.CallPolicy, error) {
	wire, err := proto.Marshal(opts)
	if err != nil {
		return nil, err
	}
	known := opts.ProtoReflect().New().Interface()
	if err := proto.Unmarshal(wire, known); err != nil {
		return nil, err
	}
	if !proto.HasExtension(known, ext) {
		return &lazyclientv1.CallPolicy{}, nil
	}
	cp := proto.GetExtension(known, ext).(*lazyclientv1.CallPolicy)
	// A newer options.proto may declare fields this generator would
	// silently drop; a policy half applied is worse than none.
	if len(cp.ProtoReflect().GetUnknown()) > 0 {
		return nil, fmt.Errorf("sets fields that protoc-gen-lazyclient v%s does not know; use the options.proto of this version, or a newer protoc-gen-lazyclient", Version)
	}
	return cp, nil
}

// timeoutOf converts a policy's timeout, which must be a valid, non-negative
// google.protobuf.Duration that fits a time.Duration.
func timeoutOf(d *durationpb.Duration) (time.Duration, error) {
	if err := d.CheckValid(); err != nil {
		return 0, fmt.Errorf("{seconds: %d, nanos: %d} is not a valid duration: seconds and nanos must have the same sign, and nanos at most 999999999 in magnitude", d.GetSeconds(), d.GetNanos())
	}
	if d.GetSeconds() < 0 || d.GetNanos() < 0 {
		return 0, fmt.Errorf("%v is negative: give a positive duration, or zero for no default timeout", d.AsDuration())
	}
	const maxSeconds, maxNanos = math.MaxInt64 / int64(time.Second), math.MaxInt64 % int64(time.Second)
	if s := d.GetSeconds(); s > maxSeconds || s == maxSeconds && int64(d.GetNanos()) > maxNanos {
		return 0, fmt.Errorf("{seconds: %d, nanos: %d} is longer than the longest Go time.Duration, %v", d.GetSeconds(), d.GetNanos(), time.Duration(math.MaxInt64))
	}
	return d.AsDuration(), nil
}

// durationLiteral writes d in the largest unit that divides it.
func durationLiteral(g *protogen.GeneratedFile, d time.Duration) string {
	units := []struct {
		size time.Duration
		name string
	}{{time.Hour, "Hour"}, {time.Minute, "Minute"}, {time.Second, "Second"}, {time.Millisecond, "Millisecond"}, {time.Microsecond, "Microsecond"}}
	for _, u := range units {
		if d%u.size == 0 {
			return fmt.Sprintf("%d * %s", d/u.size, g.QualifiedGoIdent(timePackage.Ident(u.name)))
		}
	}
	return fmt.Sprintf("%s(%d)", g.QualifiedGoIdent(timePackage.Ident("Duration")), int64(d))
}

func kindOf(m *protogen.Method) string {
	switch {
	case m.Desc.IsStreamingClient() && m.Desc.IsStreamingServer():
		return "BidiStreaming"
	case m.Desc.IsStreamingClient():
		return "ClientStreaming"
	case m.Desc.IsStreamingServer():
		return "ServerStreaming"
	}
	return "Unary"
}

func methodDeprecated(m *protogen.Method) bool {
	return m.Desc.Options().(*descriptorpb.MethodOptions).GetDeprecated()
}

// methodComments writes a method's leading comments and, if it is
// deprecated, the notice in its own paragraph, as godoc expects.
func methodComments(g *protogen.GeneratedFile, m *protogen.Method) {
	deprecated := methodDeprecated(m)
	if m.Comments.Leading != "" {
		g.P(comment(m.Comments.Leading))
		if deprecated {
			g.P("//")
		}
	}
	if deprecated {
		g.P(deprecationComment)
	}
}

// signature is a client method's signature, as protoc-gen-go-grpc writes it.
func signature(g *protogen.GeneratedFile, m *protogen.Method) string {
	s := m.GoName + "(ctx " + g.QualifiedGoIdent(contextPackage.Ident("Context"))
	if !m.Desc.IsStreamingClient() {
		s += ", in *" + g.QualifiedGoIdent(m.Input.GoIdent)
	}
	s += ", opts ..." + g.QualifiedGoIdent(grpcPackage.Ident("CallOption")) + ") ("
	in, out := g.QualifiedGoIdent(m.Input.GoIdent), g.QualifiedGoIdent(m.Output.GoIdent)
	switch kindOf(m) {
	case "Unary":
		s += "*" + out
	case "ServerStreaming":
		s += g.QualifiedGoIdent(grpcPackage.Ident("ServerStreamingClient")) + "[" + out + "]"
	case "ClientStreaming":
		s += g.QualifiedGoIdent(grpcPackage.Ident("ClientStreamingClient")) + "[" + in + ", " + out + "]"
	case "BidiStreaming":
		s += g.QualifiedGoIdent(grpcPackage.Ident("BidiStreamingClient")) + "[" + in + ", " + out + "]"
	}
	return s + ", error)"
}

func generateMethod(g *protogen.GeneratedFile, n serviceNames, m *protogen.Method) {
	if methodDeprecated(m) {
		g.P(deprecationComment)
	}
	g.P("func (c *", n.impl, ") ", signature(g, m), " {")
	typeArgs := "[" + g.QualifiedGoIdent(m.Input.GoIdent) + ", " + g.QualifiedGoIdent(m.Output.GoIdent) + "]"
	field := "c." + n.field(m)
	switch kindOf(m) {
	case "Unary":
		g.P("return ", runtimePackage.Ident("Invoke"), typeArgs, "(ctx, ", field, ", in, opts...)")
	case "ServerStreaming":
		g.P("return ", runtimePackage.Ident("NewServerStream"), typeArgs, "(ctx, ", field, ", in, opts...)")
	case "ClientStreaming":
		g.P("return ", runtimePackage.Ident("NewClientStream"), typeArgs, "(ctx, ", field, ", opts...)")
	case "BidiStreaming":
		g.P("return ", runtimePackage.Ident("NewBidiStream"), typeArgs, "(ctx, ", field, ", opts...)")
	}
	g.P("}")
	g.P()
}

func leadingComments(g *protogen.GeneratedFile, loc protoreflect.SourceLocation) {
	for _, s := range loc.LeadingDetachedComments {
		g.P(comment(protogen.Comments(s)))
		g.P()
	}
	if s := loc.LeadingComments; s != "" {
		g.P(comment(protogen.Comments(s)))
		g.P()
	}
}

// comment renders a .proto comment as Go line comments. A line that would
// read as a compiler directive (//go:generate, //line, cgo's //export) gets a
// space after the slashes, so that a comment cannot change how the
// generated file is built.
func comment(c protogen.Comments) string {
	lines := strings.Split(strings.TrimSpace(c.String()), "\n")
	for i, line := range lines {
		if directive.MatchString(line) {
			lines[i] = "// " + strings.TrimPrefix(line, "//")
		}
	}
	return strings.Join(lines, "\n")
}

var directive = regexp.MustCompile(`^//(go:|line |export |extern |[a-z0-9]+:[a-z0-9])`)

const deprecationComment = "// Deprecated: Do not use."

func protocVersion(plugin *protogen.Plugin) string {
	v := plugin.Request.GetCompilerVersion()
	if v == nil {
		return "(unknown)"
	}
	var suffix string
	if s := v.GetSuffix(); s != "" {
		suffix = "-" + s
	}
	return fmt.Sprintf("v%d.%d.%d%s", v.GetMajor(), v.GetMinor(), v.GetPatch(), suffix)
}
