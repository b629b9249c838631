package gen

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/compiler/protogen"
)

// scopes tracks the package-level Go identifiers of every output package, so
// that a generated name that would collide is an error naming both sides
// rather than uncompilable output.
type scopes struct {
	plugin      *protogen.Plugin
	samePackage bool
	byPackage   map[protogen.GoImportPath]map[string]string // identifier -> who declares it
}

func newScopes(plugin *protogen.Plugin, params *Params) *scopes {
	return &scopes{
		plugin:      plugin,
		samePackage: params.PackageSuffix == "",
		byPackage:   map[protogen.GoImportPath]map[string]string{},
	}
}

// declare adds a service's identifiers to the scope of the package they are
// generated into.
func (s *scopes) declare(pkg protogen.GoImportPath, file *protogen.File, service *protogen.Service, n serviceNames) error {
	scope := s.scope(pkg)
	owner := fmt.Sprintf("service %s in %s", service.Desc.FullName(), file.Desc.Path())
	// Distinct proto names can camel-case alike (get_thing, GetThing).
	methods := map[string]*protogen.Method{}
	for _, m := range service.Methods {
		if other, ok := methods[m.GoName]; ok {
			return fmt.Errorf("%s: methods %s and %s both have the Go name %s", owner, other.Desc.Name(), m.Desc.Name(), m.GoName)
		}
		methods[m.GoName] = m
	}
	for _, id := range n.identifiers() {
		if other, ok := scope[id]; ok {
			return fmt.Errorf("%s: generated name %s collides with %s", owner, id, other)
		}
		scope[id] = owner
	}
	return nil
}

// checkImports reports a package that g imports under a name declared in
// pkg's scope: Go forbids a name in both a file's imports and its package's
// declarations, and protogen names an import after the last element of its
// path without knowing the identifiers generated beside it.
func (s *scopes) checkImports(g *protogen.GeneratedFile, pkg protogen.GoImportPath, file *protogen.File, names []serviceNames) error {
	scope := s.scope(pkg)
	for _, n := range names {
		for _, m := range n.service.Methods {
			for _, msg := range []*protogen.Message{m.Input, m.Output} {
				name, _, imported := strings.Cut(g.QualifiedGoIdent(msg.GoIdent), ".")
				if owner, ok := scope[name]; imported && ok {
					return fmt.Errorf("%s: the stubs import %s, for message %s, as %s, which is the name of %s; change that message's go_package or the service's name",
						file.Desc.Path(), msg.GoIdent.GoImportPath, msg.Desc.FullName(), name, owner)
				}
			}
		}
	}
	return nil
}

// scope returns the identifiers already declared in pkg. In the messages'
// own package these are protoc-gen-go's and protoc-gen-go-grpc's too, for
// every file of the package.
func (s *scopes) scope(pkg protogen.GoImportPath) map[string]string {
	if scope, ok := s.byPackage[pkg]; ok {
		return scope
	}
	scope := map[string]string{}
	s.byPackage[pkg] = scope
	if !s.samePackage {
		return scope
	}
	for _, f := range s.plugin.Files {
		if f.GoImportPath != pkg {
			continue
		}
		for id, owner := range foreignIdentifiers(f) {
			scope[id] = owner
		}
	}
	return scope
}

// foreignIdentifiers lists what protoc-gen-go and protoc-gen-go-grpc declare
// for a file.
func foreignIdentifiers(f *protogen.File) map[string]string {
	ids := map[string]string{}
	in := " in " + f.Desc.Path()
	ids["File_"+strings.NewReplacer("/", "_", ".", "_", "-", "_").Replace(f.Desc.Path())] = "the file descriptor" + in
	var addMessages func([]*protogen.Message)
	addEnums := func(enums []*protogen.Enum) {
		for _, e := range enums {
			ids[e.GoIdent.GoName] = "enum " + string(e.Desc.FullName()) + in
			ids[e.GoIdent.GoName+"_name"] = "enum " + string(e.Desc.FullName()) + in
			ids[e.GoIdent.GoName+"_value"] = "enum " + string(e.Desc.FullName()) + in
			for _, v := range e.Values {
				ids[v.GoIdent.GoName] = "enum value " + string(v.Desc.FullName()) + in
			}
		}
	}
	addExtensions := func(exts []*protogen.Extension) {
		for _, x := range exts {
			ids["E_"+x.GoName] = "extension " + string(x.Desc.FullName()) + in
		}
	}
	addMessages = func(msgs []*protogen.Message) {
		for _, m := range msgs {
			owner := "message " + string(m.Desc.FullName()) + in
			ids[m.GoIdent.GoName] = owner
			for _, o := range m.Oneofs {
				for _, field := range o.Fields {
					ids[field.GoIdent.GoName] = "oneof field " + string(field.Desc.FullName()) + in
				}
			}
			addEnums(m.Enums)
			addExtensions(m.Extensions)
			addMessages(m.Messages)
		}
	}
	addEnums(f.Enums)
	addExtensions(f.Extensions)
	addMessages(f.Messages)
	for _, svc := range f.Services {
		owner := "protoc-gen-go-grpc's code for service " + string(svc.Desc.FullName()) + in
		for _, id := range []string{
			svc.GoName + "Client", "New" + svc.GoName + "Client", strings.ToLower(svc.GoName[:1]) + svc.GoName[1:] + "Client",
			svc.GoName + "Server", "Unimplemented" + svc.GoName + "Server", "Unsafe" + svc.GoName + "Server",
			"Register" + svc.GoName + "Server", svc.GoName + "_ServiceDesc",
		} {
			ids[id] = owner
		}
		for _, m := range svc.Methods {
			prefix := svc.GoName + "_" + m.GoName
			for _, id := range []string{prefix + "_FullMethodName", prefix + "Client", prefix + "Server", "_" + prefix + "_Handler"} {
				ids[id] = owner
			}
		}
	}
	return ids
}
