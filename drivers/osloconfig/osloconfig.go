// Package osloconfig loads oslo.config INI files (nova.conf, neutron.conf,
// ...) into a drivers.Config, so an existing OpenStack service
// configuration works unchanged. It reads the messaging groups
// ([DEFAULT] transport_url, control_exchange and rpc_response_timeout,
// [oslo_messaging_notifications], [oslo_messaging_rabbit],
// [oslo_messaging_pika], [oslo_messaging_amqp]) and their deprecated
// spellings, and ignores every other section.
package osloconfig

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"gopkg.in/ini.v1"

	"github.com/switchyard-dev/switchyard/drivers"
)

// Warning is a finding that does not stop loading: a key no option of an
// oslo_messaging section has, with the nearest valid key.
type Warning struct {
	File       string
	Line       int
	Section    string
	Key        string
	Suggestion string
}

func (w Warning) String() string {
	s := fmt.Sprintf("%s:%d: unknown option %q in [%s] is ignored", w.File, w.Line, w.Key, w.Section)
	if w.Suggestion != "" {
		s += fmt.Sprintf("; did you mean %q?", w.Suggestion)
	}
	return s
}

// ValueError reports an option whose value oslo.config would refuse, with
// where it was written.
type ValueError struct {
	File    string
	Line    int
	Section string
	Key     string
	Value   string
	Err     error // the *drivers.OptionError
}

func (e *ValueError) Error() string {
	reason := e.Err.Error()
	var oe *drivers.OptionError
	if errors.As(e.Err, &oe) && oe.Reason != "" {
		reason = oe.Reason
	}
	return fmt.Sprintf("%s:%d: [%s] %s = %q: %s", e.File, e.Line, e.Section, e.Key, e.Value, reason)
}

// Unwrap returns the option error.
func (e *ValueError) Unwrap() error { return e.Err }

// SyntaxError reports a line the INI reader cannot parse.
type SyntaxError struct {
	File string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// LoadFiles reads the files in order over DefaultConfig(), later files
// overriding earlier ones as oslo.config's --config-file does.
func LoadFiles(paths ...string) (*drivers.Config, []Warning, error) {
	cfg := drivers.DefaultConfig()
	var sources []Source
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, err
		}
		sources = append(sources, Source{Name: p, Data: data})
	}
	warnings, err := Apply(cfg, sources...)
	if err != nil {
		return nil, warnings, err
	}
	return cfg, warnings, nil
}

// Source is one configuration file's name (for messages) and contents.
type Source struct {
	Name string
	Data []byte
}

// assignment is one option's values as written in one place.
type assignment struct {
	section, key string
	values       []string // every occurrence of the key in the section, in order
	file         string
	line         int // line of the last occurrence
	alias        bool
}

// Apply reads the sources in order and sets their options on cfg. A
// deprecated spelling is used only where the current one is not given;
// a multi-valued option collects its values from every source; any other
// option takes its last value.
func Apply(cfg *drivers.Config, sources ...Source) ([]Warning, error) {
	var warnings []Warning
	found := map[string][]assignment{} // canonical "group/name" -> places set
	var order []string
	for _, src := range sources {
		as, ws, err := read(src)
		warnings = append(warnings, ws...)
		if err != nil {
			return warnings, err
		}
		for _, a := range as {
			o, _ := drivers.LookupOption(a.section, a.key)
			id := o.Group + "/" + o.Name
			if _, seen := found[id]; !seen {
				order = append(order, id)
			}
			a.alias = a.section != o.Group || a.key != o.Name
			found[id] = append(found[id], a)
		}
	}
	for _, id := range order {
		places := found[id]
		var canonical []assignment
		for _, p := range places {
			if !p.alias {
				canonical = append(canonical, p)
			}
		}
		if len(canonical) > 0 {
			places = canonical
		}
		o, _ := drivers.LookupOption(places[0].section, places[0].key)
		var values []string
		use := places
		if !isMulti(o) {
			use = places[len(places)-1:]
		}
		for _, p := range use {
			values = append(values, p.values...)
		}
		last := use[len(use)-1]
		if err := cfg.Set(last.section, last.key, values...); err != nil {
			var bad string
			if len(values) > 0 {
				bad = values[len(values)-1]
			}
			var oe *drivers.OptionError
			if errors.As(err, &oe) && oe.Value != "" {
				bad = oe.Value
			}
			return warnings, &ValueError{File: last.file, Line: last.line, Section: last.section, Key: last.key, Value: bad, Err: err}
		}
	}
	return warnings, nil
}

func isMulti(o drivers.OptionInfo) bool { return o.Type == "multi-valued" }

// read parses one source with the INI library and finds the line of every
// assignment.
func read(src Source) ([]assignment, []Warning, error) {
	lines, err := locate(src)
	if err != nil {
		return nil, nil, err
	}
	f, err := ini.LoadSources(ini.LoadOptions{
		AllowPythonMultilineValues: true,
		AllowShadows:               true,
		IgnoreInlineComment:        true,
		PreserveSurroundedQuote:    true,
		SkipUnrecognizableLines:    false,
		KeyValueDelimiters:         "=:",
	}, src.Data)
	if err != nil {
		return nil, nil, &SyntaxError{File: src.Name, Msg: err.Error()}
	}
	var out []assignment
	var warnings []Warning
	for _, sec := range f.Sections() {
		name := sec.Name()
		if name == ini.DefaultSection {
			name = "DEFAULT"
		}
		for _, k := range sec.Keys() {
			key := k.Name()
			line := lines[name+"/"+key]
			if _, ok := drivers.LookupOption(name, key); !ok {
				if drivers.IsKnownGroup(name) && name != "DEFAULT" {
					warnings = append(warnings, Warning{File: src.Name, Line: line, Section: name, Key: key,
						Suggestion: drivers.SuggestOption(name, key)})
				}
				continue
			}
			var values []string
			for _, v := range k.ValueWithShadows() {
				values = append(values, unquote(v))
			}
			if len(values) == 0 {
				values = []string{""} // "key =" sets the empty string
			}
			out = append(out, assignment{section: name, key: key, values: values, file: src.Name, line: line})
		}
	}
	return out, warnings, nil
}

// unquote strips one pair of matching quotes around a value, as oslo's INI
// parser does.
func unquote(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}

// locate finds, for each "section/key", the line of its last assignment,
// following oslo's INI rules: '#' and ';' start comments, indented lines
// continue the previous value, the key ends at the first ':' or '='.
func locate(src Source) (map[string]int, error) {
	lines := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(src.Data))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	section, n := "DEFAULT", 0
	inValue := false
	for sc.Scan() {
		n++
		raw := strings.TrimRight(sc.Text(), " \t\r")
		switch {
		case raw == "":
			inValue = false
		case raw[0] == ' ' || raw[0] == '\t':
			if !inValue && strings.TrimSpace(raw) != "" {
				return nil, &SyntaxError{File: src.Name, Line: n, Msg: "unexpected continuation line: " + strings.TrimSpace(raw)}
			}
		case raw[0] == '#' || raw[0] == ';':
			inValue = false
		case raw[0] == '[':
			if !strings.HasSuffix(raw, "]") || len(raw) <= 2 {
				return nil, &SyntaxError{File: src.Name, Line: n, Msg: "invalid section header " + raw}
			}
			section = raw[1 : len(raw)-1]
			inValue = false
		default:
			i := strings.IndexAny(raw, ":=")
			if i < 0 {
				return nil, &SyntaxError{File: src.Name, Line: n, Msg: "no '=' or ':' in " + raw}
			}
			key := strings.TrimSpace(raw[:i])
			if key == "" {
				return nil, &SyntaxError{File: src.Name, Line: n, Msg: "empty key in " + raw}
			}
			lines[section+"/"+key] = n
			inValue = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, &SyntaxError{File: src.Name, Line: n + 1, Msg: err.Error()}
	}
	return lines, nil
}
