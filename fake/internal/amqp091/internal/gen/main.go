// Command gen turns the AMQP 0-9-1 specification XML into Go source for
// package amqp091: constants, one struct per method, and the per-method
// encoders and decoders.
//
// Usage:
//
//	go run ./internal/gen -spec path/to/amqp0-9-1.xml -out spec_gen.go
//
// The generated code relies on helpers that live in hand-written files of
// package amqp091 (the decoder type, string and table encoders, Error).
package main

import (
	"bytes"
	"encoding/xml"
	"flag"
	"fmt"
	"go/format"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	specPath := flag.String("spec", "", "path to the AMQP 0-9-1 specification XML")
	outPath := flag.String("out", "spec_gen.go", "file to write the generated Go source to")
	pkg := flag.String("pkg", "amqp091", "package name of the generated file")
	flag.Parse()
	if *specPath == "" && flag.NArg() == 1 {
		*specPath = flag.Arg(0)
	}
	if *specPath == "" {
		fmt.Fprintln(os.Stderr, "gen: -spec is required")
		flag.Usage()
		os.Exit(2)
	}
	src, err := os.ReadFile(*specPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	out, err := Generate(src, filepath.Base(*specPath), *pkg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*outPath, out, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// XML model. Only the parts the codec needs are read; documentation
// elements and rules are ignored.

type xmlSpec struct {
	Major     int           `xml:"major,attr"`
	Minor     int           `xml:"minor,attr"`
	Revision  int           `xml:"revision,attr"`
	Constants []xmlConstant `xml:"constant"`
	Domains   []xmlDomain   `xml:"domain"`
	Classes   []xmlClass    `xml:"class"`
}

type xmlConstant struct {
	Name  string `xml:"name,attr"`
	Value int    `xml:"value,attr"`
	Class string `xml:"class,attr"`
}

type xmlDomain struct {
	Name string `xml:"name,attr"`
	Type string `xml:"type,attr"`
}

type xmlClass struct {
	Name    string      `xml:"name,attr"`
	Index   int         `xml:"index,attr"`
	Label   string      `xml:"label,attr"`
	Methods []xmlMethod `xml:"method"`
}

type xmlMethod struct {
	Name        string        `xml:"name,attr"`
	Index       int           `xml:"index,attr"`
	Synchronous int           `xml:"synchronous,attr"`
	Content     int           `xml:"content,attr"`
	Deprecated  int           `xml:"deprecated,attr"`
	Label       string        `xml:"label,attr"`
	Chassis     []xmlChassis  `xml:"chassis"`
	Responses   []xmlResponse `xml:"response"`
	Fields      []xmlField    `xml:"field"`
}

type xmlChassis struct {
	Name string `xml:"name,attr"`
}

type xmlResponse struct {
	Name string `xml:"name,attr"`
}

type xmlField struct {
	Name     string `xml:"name,attr"`
	Domain   string `xml:"domain,attr"`
	Type     string `xml:"type,attr"`
	Reserved int    `xml:"reserved,attr"`
	Label    string `xml:"label,attr"`
}

// extension is a method RabbitMQ implements that some copies of the 0-9-1
// XML leave out.
type extension struct {
	class  string
	method xmlMethod
}

// rabbitExtensions are RabbitMQ extensions that are not part of the
// published 0-9-1 XML. Each is merged in only when the XML has no method
// with the same class and method index, so a newer XML that already lists
// them wins. Field types here are primitive domain names.
var rabbitExtensions = []extension{
	{class: "connection", method: xmlMethod{
		Name: "blocked", Index: 60,
		Chassis: []xmlChassis{{Name: "server"}, {Name: "client"}},
		Fields:  []xmlField{{Name: "reason", Domain: "shortstr"}},
	}},
	{class: "connection", method: xmlMethod{
		Name: "unblocked", Index: 61,
		Chassis: []xmlChassis{{Name: "server"}, {Name: "client"}},
	}},
	{class: "connection", method: xmlMethod{
		Name: "update-secret", Index: 70, Synchronous: 1,
		Chassis:   []xmlChassis{{Name: "client"}},
		Responses: []xmlResponse{{Name: "update-secret-ok"}},
		Fields: []xmlField{
			{Name: "new-secret", Domain: "longstr"},
			{Name: "reason", Domain: "shortstr"},
		},
	}},
	{class: "connection", method: xmlMethod{
		Name: "update-secret-ok", Index: 71, Synchronous: 1,
		Chassis: []xmlChassis{{Name: "server"}},
	}},
}

// fieldRenames gives Go names for XML field names whose default Go name
// would be ambiguous or collide with a method of the generated type.
var fieldRenames = map[string]string{
	// connection.close and channel.close name the method that caused the
	// close; ClassID and MethodID are already methods of every type.
	"class-id":  "FailedClassID",
	"method-id": "FailedMethodID",
	// confirm.select spells no-wait without the hyphen.
	"nowait": "NoWait",
}

// reservedGoNames are method names of the generated types; a field must
// not take one of them.
var reservedGoNames = map[string]bool{
	"ClassID": true, "MethodID": true, "Name": true, "HasContent": true,
	"Synchronous": true, "AppendBinary": true, "MarshalBinary": true,
	"UnmarshalBinary": true,
}

// summaries are short descriptions, in our own words, of what each method
// does. The stripped XML has no labels; a method missing here gets a
// description derived from its name.
var summaries = map[string]string{
	"connection.start":         "opens connection negotiation: the server offers its properties, SASL mechanisms and locales",
	"connection.start-ok":      "answers connection.start with the client's properties, the chosen SASL mechanism and response, and a locale",
	"connection.secure":        "carries a SASL challenge from the server",
	"connection.secure-ok":     "carries the client's answer to a SASL challenge",
	"connection.tune":          "proposes the channel-max, frame-max and heartbeat limits",
	"connection.tune-ok":       "states the limits the client accepted",
	"connection.open":          "selects the virtual host to work in",
	"connection.open-ok":       "reports that the virtual host is open",
	"connection.close":         "asks to close the connection, giving a reply code and, when a method caused the close, that method",
	"connection.close-ok":      "confirms a connection close",
	"connection.blocked":       "tells the client that the server stopped reading its publishes, with a reason",
	"connection.unblocked":     "tells the client that publishing may resume",
	"connection.update-secret": "replaces the credentials of an open connection",
	"channel.open":             "opens a channel",
	"channel.open-ok":          "reports that a channel is open",
	"channel.flow":             "asks the peer to pause or resume sending content",
	"channel.flow-ok":          "confirms a flow change",
	"channel.close":            "asks to close a channel, giving a reply code and, when a method caused the close, that method",
	"channel.close-ok":         "confirms a channel close",
	"exchange.declare":         "creates an exchange, or checks that it exists when passive",
	"exchange.delete":          "removes an exchange",
	"exchange.bind":            "binds one exchange to another (a RabbitMQ extension)",
	"exchange.unbind":          "removes an exchange-to-exchange binding (a RabbitMQ extension)",
	"queue.declare":            "creates a queue, or checks that it exists when passive",
	"queue.declare-ok":         "reports the queue's name and its message and consumer counts",
	"queue.bind":               "binds a queue to an exchange",
	"queue.unbind":             "removes a queue binding",
	"queue.purge":              "removes all ready messages from a queue",
	"queue.purge-ok":           "reports how many messages a purge removed",
	"queue.delete":             "removes a queue",
	"queue.delete-ok":          "reports how many messages were removed with the queue",
	"basic.qos":                "sets the prefetch window",
	"basic.consume":            "starts a consumer on a queue",
	"basic.consume-ok":         "reports the tag of a new consumer",
	"basic.cancel":             "ends a consumer; RabbitMQ also sends it to a client whose queue went away",
	"basic.cancel-ok":          "confirms that a consumer ended",
	"basic.publish":            "publishes a message to an exchange",
	"basic.return":             "hands an unroutable mandatory message back to its publisher",
	"basic.deliver":            "delivers a message to a consumer",
	"basic.get":                "fetches one message from a queue",
	"basic.get-ok":             "carries the message fetched by basic.get",
	"basic.get-empty":          "reports that basic.get found the queue empty",
	"basic.ack":                "acknowledges deliveries, or in confirm mode confirms publishes",
	"basic.reject":             "rejects a single delivery",
	"basic.recover-async":      "asks for redelivery of unacknowledged messages without a reply",
	"basic.recover":            "asks for redelivery of unacknowledged messages",
	"basic.nack":               "rejects deliveries, or in confirm mode reports publishes the broker lost",
	"tx.select":                "puts the channel into transaction mode",
	"tx.commit":                "commits the current transaction",
	"tx.rollback":              "abandons the current transaction",
	"confirm.select":           "puts the channel into publisher-confirm mode",
}

// Model used by the emitter.

type constant struct {
	goName   string
	xmlName  string
	value    int
	hard     bool
	soft     bool
	isReply  bool
	replyTag string // e.g. "NOT_FOUND"
}

type class struct {
	name    string
	goName  string
	index   int
	methods []*method
}

type method struct {
	class     *class
	name      string
	goName    string
	fullName  string
	index     int
	sync      bool
	content   bool
	deprec    bool
	label     string
	fields    []*field
	responses []string
	byServer  bool // the server sends it (client implements it)
	byClient  bool // the client sends it (server implements it)
}

type field struct {
	name     string
	goName   string
	domain   string
	kind     string // primitive type: octet, short, long, longlong, bit, shortstr, longstr, table, timestamp
	reserved bool
	label    string
}

var goTypes = map[string]string{
	"octet":     "uint8",
	"short":     "uint16",
	"long":      "uint32",
	"longlong":  "uint64",
	"bit":       "bool",
	"shortstr":  "string",
	"longstr":   "string",
	"table":     "Table",
	"timestamp": "time.Time",
}

// Generate parses the specification XML in src and returns gofmt'ed Go
// source for package pkg. specName names the input in the header comment.
func Generate(src []byte, specName, pkg string) ([]byte, error) {
	var spec xmlSpec
	dec := xml.NewDecoder(bytes.NewReader(src))
	if err := dec.Decode(&spec); err != nil {
		return nil, fmt.Errorf("parse spec: %w", err)
	}
	consts, classes, err := build(&spec)
	if err != nil {
		return nil, err
	}
	var w bytes.Buffer
	emit(&w, &spec, specName, pkg, consts, classes)
	out, err := format.Source(w.Bytes())
	if err != nil {
		return w.Bytes(), fmt.Errorf("format generated code: %w", err)
	}
	return out, nil
}

// mergeExtensions adds each of rabbitExtensions to spec unless its class
// already has a method with that index. It reports the names it added.
func mergeExtensions(spec *xmlSpec) []string {
	var added []string
	for _, ext := range rabbitExtensions {
		for ci := range spec.Classes {
			c := &spec.Classes[ci]
			if c.Name != ext.class {
				continue
			}
			present := false
			for _, m := range c.Methods {
				if m.Index == ext.method.Index {
					present = true
					break
				}
			}
			if !present {
				c.Methods = append(c.Methods, ext.method)
				added = append(added, c.Name+"."+ext.method.Name)
			}
		}
	}
	return added
}

func build(spec *xmlSpec) ([]constant, []*class, error) {
	mergeExtensions(spec)

	var consts []constant
	for _, c := range spec.Constants {
		k := constant{
			goName:  goName(c.Name),
			xmlName: c.Name,
			value:   c.Value,
			hard:    c.Class == "hard-error",
			soft:    c.Class == "soft-error",
		}
		if k.hard || k.soft || c.Name == "reply-success" {
			k.isReply = true
			k.replyTag = strings.ToUpper(strings.ReplaceAll(c.Name, "-", "_"))
		}
		consts = append(consts, k)
	}

	domains := map[string]string{}
	for _, d := range spec.Domains {
		domains[d.Name] = d.Type
	}
	resolve := func(f xmlField) (string, error) {
		t := f.Type
		if t == "" {
			t = f.Domain
		}
		// Follow domain aliases until a primitive type is reached.
		for range 8 {
			if _, ok := goTypes[t]; ok {
				return t, nil
			}
			next, ok := domains[t]
			if !ok || next == t {
				break
			}
			t = next
		}
		if _, ok := goTypes[t]; ok {
			return t, nil
		}
		return "", fmt.Errorf("field %s: unknown domain or type %q", f.Name, t)
	}

	var classes []*class
	seenClass := map[int]bool{}
	for _, xc := range spec.Classes {
		if seenClass[xc.Index] {
			return nil, nil, fmt.Errorf("class %s: duplicate index %d", xc.Name, xc.Index)
		}
		seenClass[xc.Index] = true
		c := &class{name: xc.Name, goName: goName(xc.Name), index: xc.Index}
		seenMethod := map[int]bool{}
		for _, xm := range xc.Methods {
			if seenMethod[xm.Index] {
				return nil, nil, fmt.Errorf("method %s.%s: duplicate index %d", xc.Name, xm.Name, xm.Index)
			}
			seenMethod[xm.Index] = true
			m := &method{
				class:    c,
				name:     xm.Name,
				goName:   c.goName + goName(xm.Name),
				fullName: xc.Name + "." + xm.Name,
				index:    xm.Index,
				sync:     xm.Synchronous != 0,
				content:  xm.Content != 0,
				deprec:   xm.Deprecated != 0,
				label:    xm.Label,
			}
			for _, ch := range xm.Chassis {
				switch ch.Name {
				case "server":
					m.byClient = true
				case "client":
					m.byServer = true
				}
			}
			for _, r := range xm.Responses {
				m.responses = append(m.responses, c.goName+goName(r.Name))
			}
			names := map[string]bool{}
			for _, xf := range xm.Fields {
				kind, err := resolve(xf)
				if err != nil {
					return nil, nil, fmt.Errorf("%s: %w", m.fullName, err)
				}
				f := &field{
					name:     xf.Name,
					goName:   fieldGoName(xf.Name),
					domain:   xf.Domain,
					kind:     kind,
					reserved: xf.Reserved != 0,
					label:    xf.Label,
				}
				if !f.reserved {
					if reservedGoNames[f.goName] {
						return nil, nil, fmt.Errorf("%s: field %s maps to %s, a method name; add it to fieldRenames", m.fullName, f.name, f.goName)
					}
					if names[f.goName] {
						return nil, nil, fmt.Errorf("%s: two fields map to %s", m.fullName, f.goName)
					}
					names[f.goName] = true
				}
				m.fields = append(m.fields, f)
			}
			c.methods = append(c.methods, m)
		}
		sort.Slice(c.methods, func(i, j int) bool { return c.methods[i].index < c.methods[j].index })
		classes = append(classes, c)
	}
	sort.Slice(classes, func(i, j int) bool { return classes[i].index < classes[j].index })
	return consts, classes, nil
}

// goName turns an XML name such as "routing-key" or "update-secret-ok"
// into Go's exported camel case, writing "id" as "ID".
func goName(s string) string {
	var b strings.Builder
	for part := range strings.SplitSeq(s, "-") {
		if part == "" {
			continue
		}
		if part == "id" {
			b.WriteString("ID")
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]))
		b.WriteString(part[1:])
	}
	return b.String()
}

func fieldGoName(s string) string {
	if r, ok := fieldRenames[s]; ok {
		return r
	}
	return goName(s)
}

// Emitter.

type printer struct {
	w io.Writer
}

func (p printer) f(format string, args ...any) {
	fmt.Fprintf(p.w, format, args...)
}

// comment writes text as a // comment wrapped at about 77 columns.
func (p printer) comment(indent, text string) {
	const width = 77
	line := indent + "//"
	for word := range strings.FieldsSeq(text) {
		if len(line)+1+len(word) > width && len(line) > len(indent)+2 {
			p.f("%s\n", line)
			line = indent + "//"
		}
		line += " " + word
	}
	p.f("%s\n", line)
}

func emit(w io.Writer, spec *xmlSpec, specName, pkg string, consts []constant, classes []*class) {
	p := printer{w}
	needTime := false
	for _, c := range classes {
		for _, m := range c.methods {
			for _, f := range m.fields {
				if f.kind == "timestamp" && !f.reserved {
					needTime = true
				}
			}
		}
	}

	p.f("// Code generated by go run ./internal/gen from %s; DO NOT EDIT.\n\n", specName)
	p.f("package %s\n\n", pkg)
	p.f("import (\n\t\"encoding/binary\"\n")
	if needTime {
		p.f("\t\"time\"\n")
	}
	p.f(")\n\n")

	p.f("// Protocol version implemented by this package, from the specification.\n")
	p.f("const (\n")
	p.f("\t// VersionMajor is the protocol's major version.\n\tVersionMajor = %d\n", spec.Major)
	p.f("\t// VersionMinor is the protocol's minor version.\n\tVersionMinor = %d\n", spec.Minor)
	p.f("\t// VersionRevision is the protocol's revision.\n\tVersionRevision = %d\n", spec.Revision)
	p.f(")\n\n")

	p.f("// Frame types, frame limits and reply codes defined by the specification.\n")
	p.f("const (\n")
	for _, k := range consts {
		switch {
		case k.hard:
			p.comment("\t", fmt.Sprintf("%s is reply code %d (%s), a hard error: it closes the connection.", k.goName, k.value, k.replyTag))
		case k.soft:
			p.comment("\t", fmt.Sprintf("%s is reply code %d (%s), a soft error: it closes only the channel.", k.goName, k.value, k.replyTag))
		case k.isReply:
			p.comment("\t", fmt.Sprintf("%s is reply code %d (%s), the code of a normal close.", k.goName, k.value, k.replyTag))
		case strings.HasPrefix(k.xmlName, "frame-") && k.xmlName != "frame-min-size" && k.xmlName != "frame-end":
			p.comment("\t", fmt.Sprintf("%s is the frame type octet of a %s frame.", k.goName, strings.TrimPrefix(k.xmlName, "frame-")))
		case k.xmlName == "frame-end":
			p.comment("\t", fmt.Sprintf("%s is the octet that ends every frame.", k.goName))
		case k.xmlName == "frame-min-size":
			p.comment("\t", fmt.Sprintf("%s is the smallest frame-max a peer may negotiate; frames this size are allowed before tuning.", k.goName))
		default:
			p.comment("\t", fmt.Sprintf("%s is the specification constant %s.", k.goName, k.xmlName))
		}
		p.f("\t%s = %d\n", k.goName, k.value)
	}
	p.f(")\n\n")

	p.f("// ReplyCodeName returns the upper-case name of an AMQP reply code, such as\n")
	p.f("// \"NOT_FOUND\" for 404, or \"\" for a code the specification does not define.\n")
	p.f("func ReplyCodeName(code uint16) string {\n\tswitch code {\n")
	for _, k := range consts {
		if k.isReply {
			p.f("\tcase %s:\n\t\treturn %q\n", k.goName, k.replyTag)
		}
	}
	p.f("\t}\n\treturn \"\"\n}\n\n")

	p.f("// IsHardError reports whether the specification classes reply code as a\n")
	p.f("// hard error, one that closes the whole connection rather than a channel.\n")
	p.f("// Codes the specification does not define are treated as hard.\n")
	p.f("func IsHardError(code uint16) bool {\n\tswitch code {\n\tcase ")
	first := true
	for _, k := range consts {
		if k.isReply && !k.hard {
			if !first {
				p.f(", ")
			}
			first = false
			p.f("%s", k.goName)
		}
	}
	p.f(":\n\t\treturn false\n\t}\n\treturn true\n}\n\n")

	p.f("// Class ids.\nconst (\n")
	for _, c := range classes {
		p.f("\t// Class%s is the id of the %s class.\n\tClass%s uint16 = %d\n", c.goName, c.name, c.goName, c.index)
	}
	p.f(")\n\n")

	p.f("// Method ids, unique within their class.\nconst (\n")
	for _, c := range classes {
		for _, m := range c.methods {
			p.f("\t// Method%s is the method id of %s.\n\tMethod%s uint16 = %d\n", m.goName, m.fullName, m.goName, m.index)
		}
	}
	p.f(")\n\n")

	p.f("// ClassName returns the name of a class, such as \"basic\", or \"\" if the id\n// is unknown.\n")
	p.f("func ClassName(classID uint16) string {\n\tswitch classID {\n")
	for _, c := range classes {
		p.f("\tcase Class%s:\n\t\treturn %q\n", c.goName, c.name)
	}
	p.f("\t}\n\treturn \"\"\n}\n\n")

	p.f("// MethodName returns the dotted name of a method, such as \"basic.publish\",\n// or \"\" if the pair of ids is unknown.\n")
	p.f("func MethodName(classID, methodID uint16) string {\n\tswitch classID {\n")
	for _, c := range classes {
		p.f("\tcase Class%s:\n\t\tswitch methodID {\n", c.goName)
		for _, m := range c.methods {
			p.f("\t\tcase Method%s:\n\t\t\treturn %q\n", m.goName, m.fullName)
		}
		p.f("\t\t}\n")
	}
	p.f("\t}\n\treturn \"\"\n}\n\n")

	for _, c := range classes {
		for _, m := range c.methods {
			emitMethod(p, m)
		}
	}

	emitDispatch(p, classes)
}

func describe(m *method) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s is %s (class %d, method %d)", m.goName, m.fullName, m.class.index, m.index)
	if m.label != "" {
		fmt.Fprintf(&b, ", %q", m.label)
	}
	if s, ok := summaries[m.fullName]; ok {
		fmt.Fprintf(&b, ": it %s.", s)
	} else if base, ok := strings.CutSuffix(m.name, "-ok"); ok {
		fmt.Fprintf(&b, ": the reply to %s.%s.", m.class.name, base)
	} else {
		b.WriteString(".")
	}
	switch {
	case m.byClient && m.byServer:
		b.WriteString(" Either peer may send it.")
	case m.byClient:
		b.WriteString(" The client sends it.")
	case m.byServer:
		b.WriteString(" The server sends it.")
	}
	if m.content {
		b.WriteString(" A content header frame and body frames follow it.")
	}
	if len(m.responses) > 0 {
		fmt.Fprintf(&b, " The expected reply is %s.", strings.Join(m.responses, " or "))
	}
	if m.deprec {
		b.WriteString(" The specification marks it as deprecated.")
	}
	return b.String()
}

func fieldComment(m *method, f *field) string {
	s := f.name
	if f.domain != "" && f.domain != f.kind && f.domain != f.name {
		s += " (" + f.domain + ")"
	}
	s += ": " + f.kind
	if f.label != "" {
		s += ", " + f.label
	}
	return s
}

// bitGroups returns, for each field index, the index of the packed octet
// and the bit within it for bit fields, following the rule that
// consecutive bit fields share octets, at most eight to an octet, starting
// from the least significant bit.
func bitGroups(fields []*field) (group []int, bit []int) {
	group = make([]int, len(fields))
	bit = make([]int, len(fields))
	g, n := -1, 8
	prevBit := false
	for i, f := range fields {
		if f.kind != "bit" {
			prevBit = false
			group[i] = -1
			continue
		}
		if !prevBit || n == 8 {
			g++
			n = 0
		}
		group[i], bit[i] = g, n
		n++
		prevBit = true
	}
	return group, bit
}

func emitMethod(p printer, m *method) {
	p.comment("", describe(m))
	var visible []*field
	for _, f := range m.fields {
		if !f.reserved {
			visible = append(visible, f)
		}
	}
	if len(visible) == 0 {
		p.f("type %s struct{}\n\n", m.goName)
	} else {
		p.f("type %s struct {\n", m.goName)
		for _, f := range visible {
			p.f("\t%s %s // %s\n", f.goName, goTypes[f.kind], fieldComment(m, f))
		}
		p.f("}\n\n")
	}
	recv := "m *" + m.goName
	anon := "*" + m.goName
	p.f("// ClassID returns Class%s.\n", m.class.goName)
	p.f("func (%s) ClassID() uint16 { return Class%s }\n\n", anon, m.class.goName)
	p.f("// MethodID returns Method%s.\n", m.goName)
	p.f("func (%s) MethodID() uint16 { return Method%s }\n\n", anon, m.goName)
	p.f("// Name returns %q.\n", m.fullName)
	p.f("func (%s) Name() string { return %q }\n\n", anon, m.fullName)
	p.f("// HasContent reports whether content frames follow the method: %v.\n", m.content)
	p.f("func (%s) HasContent() bool { return %v }\n\n", anon, m.content)
	p.f("// Synchronous reports whether the specification marks the method as\n// synchronous: %v.\n", m.sync)
	p.f("func (%s) Synchronous() bool { return %v }\n\n", anon, m.sync)

	p.f("// AppendBinary appends the method frame payload (class id, method id and\n// arguments) to b.\n")
	p.f("func (%s) AppendBinary(b []byte) ([]byte, error) {\n", recv)
	p.f("\tb = append(b, %d, %d, %d, %d)\n", m.class.index>>8, m.class.index&0xff, m.index>>8, m.index&0xff)
	p.f("\treturn m.appendArgs(b)\n}\n\n")

	p.f("// MarshalBinary returns the method frame payload.\n")
	p.f("func (%s) MarshalBinary() ([]byte, error) {\n\treturn m.AppendBinary(make([]byte, 0, %d))\n}\n\n", recv, estimateSize(m))

	p.f("// UnmarshalBinary decodes a method frame payload, which must hold\n// %s, into m.\n", m.fullName)
	p.f("func (%s) UnmarshalBinary(payload []byte) error {\n", recv)
	p.f("\td, err := methodDecoder(payload, Class%s, Method%s)\n", m.class.goName, m.goName)
	p.f("\tif err != nil {\n\t\treturn err\n\t}\n")
	p.f("\tm.decodeArgs(&d)\n")
	p.f("\treturn d.finish(Class%s, Method%s)\n}\n\n", m.class.goName, m.goName)

	emitAppendArgs(p, m, recv)
	emitDecodeArgs(p, m, recv)
}

func estimateSize(m *method) int {
	n := 4
	for _, f := range m.fields {
		switch f.kind {
		case "octet", "bit":
			n++
		case "short":
			n += 2
		case "long":
			n += 4
		case "longlong", "timestamp":
			n += 8
		case "shortstr":
			n += 1 + 16
		case "longstr", "table":
			n += 4 + 32
		}
	}
	return (n + 15) &^ 15
}

// groupUse reports whether the bit group of field i has a field that is
// not reserved, and lists the group's field names.
func groupUse(fields []*field, group []int, i int) (used bool, names string) {
	var list []string
	for j, f := range fields {
		if group[j] == group[i] {
			list = append(list, f.name)
			if !f.reserved {
				used = true
			}
		}
	}
	return used, strings.Join(list, ", ")
}

func emitAppendArgs(p printer, m *method, recv string) {
	group, bit := bitGroups(m.fields)
	needErr := false
	for _, f := range m.fields {
		if !f.reserved && (f.kind == "shortstr" || f.kind == "longstr" || f.kind == "table") {
			needErr = true
		}
	}
	p.f("func (%s) appendArgs(b []byte) ([]byte, error) {\n", recv)
	if len(m.fields) == 0 {
		p.f("\treturn b, nil\n}\n\n")
		return
	}
	if needErr {
		p.f("\tvar err error\n")
	}
	ids := fmt.Sprintf("Class%s, Method%s", m.class.goName, m.goName)
	for i, f := range m.fields {
		x := "m." + f.goName
		if f.kind == "bit" {
			used, names := groupUse(m.fields, group, i)
			if !used {
				if bit[i] == 0 {
					p.f("\tb = append(b, 0) // %s\n", names)
				}
				continue
			}
			last := i+1 == len(m.fields) || group[i+1] != group[i]
			if bit[i] == 0 {
				p.f("\tvar bits%d byte // %s\n", group[i], names)
			}
			if !f.reserved {
				p.f("\tif %s {\n\t\tbits%d |= 1 << %d\n\t}\n", x, group[i], bit[i])
			}
			if last {
				p.f("\tb = append(b, bits%d)\n", group[i])
			}
			continue
		}
		if f.reserved {
			p.f("\tb = append(b, %s) // %s\n", zeroBytes(f.kind), f.name)
			continue
		}
		switch f.kind {
		case "octet":
			p.f("\tb = append(b, %s)\n", x)
		case "short":
			p.f("\tb = binary.BigEndian.AppendUint16(b, %s)\n", x)
		case "long":
			p.f("\tb = binary.BigEndian.AppendUint32(b, %s)\n", x)
		case "longlong":
			p.f("\tb = binary.BigEndian.AppendUint64(b, %s)\n", x)
		case "timestamp":
			p.f("\tb = binary.BigEndian.AppendUint64(b, uint64(%s.Unix()))\n", x)
		case "shortstr":
			p.f("\tif b, err = appendShortstr(b, %s, %q); err != nil {\n\t\treturn b, withMethod(err, %s)\n\t}\n", x, f.name, ids)
		case "longstr":
			p.f("\tif b, err = appendLongstr(b, %s, %q); err != nil {\n\t\treturn b, withMethod(err, %s)\n\t}\n", x, f.name, ids)
		case "table":
			p.f("\tif b, err = appendTable(b, %s, 1); err != nil {\n\t\treturn b, withMethod(err, %s)\n\t}\n", x, ids)
		}
	}
	p.f("\treturn b, nil\n}\n\n")
}

func zeroBytes(kind string) string {
	switch kind {
	case "octet", "shortstr":
		return "0"
	case "short":
		return "0, 0"
	case "long", "longstr", "table":
		return "0, 0, 0, 0"
	case "longlong", "timestamp":
		return "0, 0, 0, 0, 0, 0, 0, 0"
	}
	panic("no zero encoding for " + kind)
}

func emitDecodeArgs(p printer, m *method, recv string) {
	group, bit := bitGroups(m.fields)
	if len(m.fields) == 0 {
		p.f("func (%s) decodeArgs(*decoder) {}\n\n", "*"+m.goName)
		return
	}
	p.f("func (%s) decodeArgs(d *decoder) {\n", recv)
	for i, f := range m.fields {
		x := "m." + f.goName
		if f.kind == "bit" {
			if bit[i] == 0 {
				used, names := groupUse(m.fields, group, i)
				if used {
					p.f("\tbits%d := d.octet() // %s\n", group[i], names)
				} else {
					p.f("\td.skip(1) // %s\n", names)
				}
			}
			if !f.reserved {
				p.f("\t%s = bits%d&(1<<%d) != 0\n", x, group[i], bit[i])
			}
			continue
		}
		if f.reserved {
			switch f.kind {
			case "shortstr":
				p.f("\td.skipShortstr() // %s\n", f.name)
			case "longstr", "table":
				// Both are a 32-bit length and that many bytes.
				p.f("\td.skipLongstr() // %s\n", f.name)
			default:
				p.f("\td.skip(%d) // %s\n", strings.Count(zeroBytes(f.kind), "0"), f.name)
			}
			continue
		}
		switch f.kind {
		case "octet":
			p.f("\t%s = d.octet()\n", x)
		case "short":
			p.f("\t%s = d.short()\n", x)
		case "long":
			p.f("\t%s = d.long()\n", x)
		case "longlong":
			p.f("\t%s = d.longlong()\n", x)
		case "timestamp":
			p.f("\t%s = d.timestamp()\n", x)
		case "shortstr":
			p.f("\t%s = d.shortstr()\n", x)
		case "longstr":
			p.f("\t%s = d.longstr()\n", x)
		case "table":
			p.f("\t%s = d.table()\n", x)
		}
	}
	p.f("}\n\n")
}

func emitDispatch(p printer, classes []*class) {
	p.f("// DecodeMethod decodes a method frame payload into a newly allocated method\n")
	p.f("// struct. A payload too short to hold the ids, truncated arguments or\n")
	p.f("// trailing bytes give an *Error with code FrameError; an invalid field\n")
	p.f("// value gives SyntaxError. An unknown class id gives NotImplemented and an\n")
	p.f("// unknown method id of a known class gives CommandInvalid.\n")
	p.f("func DecodeMethod(payload []byte) (Method, error) {\n")
	p.f("\tif len(payload) < 4 {\n\t\treturn nil, shortMethodPayload(len(payload))\n\t}\n")
	p.f("\tclassID := binary.BigEndian.Uint16(payload)\n")
	p.f("\tmethodID := binary.BigEndian.Uint16(payload[2:])\n")
	p.f("\td := newDecoder(payload[4:])\n")
	p.f("\tswitch classID {\n")
	for _, c := range classes {
		p.f("\tcase Class%s:\n\t\tswitch methodID {\n", c.goName)
		for _, m := range c.methods {
			p.f("\t\tcase Method%s:\n", m.goName)
			p.f("\t\t\tm := new(%s)\n", m.goName)
			p.f("\t\t\tm.decodeArgs(&d)\n")
			p.f("\t\t\tif err := d.finish(classID, methodID); err != nil {\n\t\t\t\treturn nil, err\n\t\t\t}\n")
			p.f("\t\t\treturn m, nil\n")
		}
		p.f("\t\t}\n\t\treturn nil, unknownMethod(classID, methodID)\n")
	}
	p.f("\t}\n\treturn nil, unknownClass(classID, methodID)\n}\n\n")

	p.f("// newMethod returns a new zero method struct for a pair of ids, or nil.\n")
	p.f("func newMethod(classID, methodID uint16) Method {\n\tswitch uint32(classID)<<16 | uint32(methodID) {\n")
	for _, c := range classes {
		for _, m := range c.methods {
			p.f("\tcase uint32(Class%s)<<16 | uint32(Method%s):\n\t\treturn new(%s)\n", c.goName, m.goName, m.goName)
		}
	}
	p.f("\t}\n\treturn nil\n}\n")
}
