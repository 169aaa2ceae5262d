package scenario

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/switchyard-dev/switchyard/internal/spelling"
)

// Error is one problem of a scenario file.
type Error struct {
	File  string
	Line  int    // 1-based; 0 when the file as a whole is concerned
	Field string // dotted path such as workload[0].rate; empty for syntax errors
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors are all the problems found in one file, in line order.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// reader walks a YAML document, collecting errors.
type reader struct {
	file string
	errs Errors
}

func (r *reader) errorf(n *yaml.Node, field, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	r.errs = append(r.errs, &Error{File: r.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// mapping is a YAML mapping whose keys were checked against the allowed
// ones.
type mapping struct {
	r      *reader
	path   string
	node   *yaml.Node
	values map[string]*yaml.Node
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// mapping reads n as a mapping with the allowed keys; unknown and repeated
// keys are reported. It returns nil when n is not a mapping.
func (r *reader) mapping(n *yaml.Node, path string, allowed ...string) *mapping {
	if n.Kind != yaml.MappingNode {
		r.errorf(n, path, "must be a mapping with the fields %s, got %s", strings.Join(allowed, ", "), describe(n))
		return nil
	}
	m := &mapping{r: r, path: path, node: n, values: map[string]*yaml.Node{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			r.errorf(k, path, "keys must be plain names")
			continue
		}
		if !contains(allowed, k.Value) {
			msg := fmt.Sprintf("unknown field %q; allowed: %s", k.Value, strings.Join(allowed, ", "))
			if s := nearest(k.Value, allowed); s != "" {
				msg = fmt.Sprintf("unknown field %q (did you mean %q?); allowed: %s", k.Value, s, strings.Join(allowed, ", "))
			}
			r.errorf(k, join(path, k.Value), "%s", msg)
			continue
		}
		if _, dup := m.values[k.Value]; dup {
			r.errorf(k, join(path, k.Value), "given more than once")
			continue
		}
		m.values[k.Value] = v
	}
	return m
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// nearest returns the allowed name closest to s by edit distance, if close.
func nearest(s string, allowed []string) string { return spelling.Nearest(s, allowed, 2) }

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return strconv.Quote(n.Value)
	}
	return "something else"
}

func (m *mapping) has(key string) bool { _, ok := m.values[key]; return ok }

func (m *mapping) field(key string) string { return join(m.path, key) }

// scalar returns the scalar value of key, reporting non-scalars.
func (m *mapping) scalar(key string) (*yaml.Node, bool) {
	n, ok := m.values[key]
	if !ok {
		return nil, false
	}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		m.r.errorf(n, m.field(key), "must be a single value, got %s", describe(n))
		return nil, false
	}
	return n, true
}

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

func (m *mapping) str(key, def string) string {
	n, ok := m.scalar(key)
	if !ok {
		return def
	}
	return n.Value
}

func (m *mapping) name(key, def string) string {
	n, ok := m.scalar(key)
	if !ok {
		return def
	}
	if !namePattern.MatchString(n.Value) {
		m.r.errorf(n, m.field(key), "must be 1-63 lower-case letters, digits and dashes, starting with a letter or digit, got %q", n.Value)
		return def
	}
	return n.Value
}

func (m *mapping) choice(key, def string, choices ...string) string {
	n, ok := m.scalar(key)
	if !ok {
		return def
	}
	if !contains(choices, n.Value) {
		msg := fmt.Sprintf("must be one of %s, got %q", strings.Join(choices, ", "), n.Value)
		if s := nearest(n.Value, choices); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		m.r.errorf(n, m.field(key), "%s", msg)
		return def
	}
	return n.Value
}

func (m *mapping) boolean(key string, def bool) bool {
	n, ok := m.scalar(key)
	if !ok {
		return def
	}
	switch strings.ToLower(n.Value) {
	case "true", "yes", "on":
		return true
	case "false", "no", "off":
		return false
	}
	m.r.errorf(n, m.field(key), "must be true or false, got %q", n.Value)
	return def
}

// integer reads an integer within [lo, hi].
func (m *mapping) integer(key string, def, lo, hi int64) int64 {
	n, ok := m.scalar(key)
	if !ok {
		return def
	}
	v, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil || v < lo || v > hi {
		m.r.errorf(n, m.field(key), "must be a whole number from %d to %d, got %q", lo, hi, n.Value)
		return def
	}
	return v
}

// number reads a finite number within [lo, hi].
func (m *mapping) number(key string, def, lo, hi float64, what string) float64 {
	n, ok := m.scalar(key)
	if !ok {
		return def
	}
	v, err := strconv.ParseFloat(n.Value, 64)
	if err != nil || math.IsNaN(v) || v < lo || v > hi {
		m.r.errorf(n, m.field(key), "must be %s from %g to %g, got %q", what, lo, hi, n.Value)
		return def
	}
	return v
}

// duration reads a Go duration ("1.5s", "200ms") within [lo, hi]; a bare
// number is seconds.
func (m *mapping) duration(key string, def, lo, hi time.Duration) time.Duration {
	n, ok := m.scalar(key)
	if !ok {
		return def
	}
	d, err := parseDuration(n.Value)
	if err != nil || d < lo || d > hi {
		m.r.errorf(n, m.field(key), "must be a duration such as 500ms or 2s, from %s to %s, got %q", lo, hi, n.Value)
		return def
	}
	return d
}

func parseDuration(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e6 {
			return 0, fmt.Errorf("out of range")
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	return time.ParseDuration(s)
}

// list returns the items of a sequence, reporting anything else.
func (m *mapping) list(key string) []*yaml.Node {
	n, ok := m.values[key]
	if !ok {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		m.r.errorf(n, m.field(key), "must be a list, got %s", describe(n))
		return nil
	}
	return n.Content
}

// sortedKeys returns the keys of a mapping node in file order.
func keysInOrder(n *yaml.Node) []*yaml.Node {
	var ks []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		ks = append(ks, n.Content[i])
	}
	sort.SliceStable(ks, func(i, j int) bool { return ks[i].Line < ks[j].Line })
	return ks
}
