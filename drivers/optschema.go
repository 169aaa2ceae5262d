package drivers

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-dev/switchyard/internal/spelling"
)

// ErrUnknownOption is wrapped by an *OptionError for a name no option group
// defines.
var ErrUnknownOption = errors.New("unknown option")

// OptionError reports an option that cannot be set: unknown (wrapping
// ErrUnknownOption, with the nearest valid name) or given an invalid value.
type OptionError struct {
	Group      string
	Name       string
	Value      string
	Reason     string
	Suggestion string // nearest valid option name, for unknown options
	unknown    bool
}

func (e *OptionError) Error() string {
	if e.unknown {
		msg := fmt.Sprintf("unknown option %q in [%s]", e.Name, e.Group)
		if e.Suggestion != "" {
			msg += fmt.Sprintf("; did you mean %q?", e.Suggestion)
		}
		return msg
	}
	return fmt.Sprintf("invalid value %q for option %s in [%s]: %s", e.Value, e.Name, e.Group, e.Reason)
}

// Is matches ErrUnknownOption for unknown names.
func (e *OptionError) Is(target error) bool { return e.unknown && target == ErrUnknownOption }

// OptionInfo describes one option of a group.
type OptionInfo struct {
	Group   string
	Name    string
	Type    string // "string", "integer", "boolean", "seconds", "integer seconds", "list", "multi-valued", "dict"
	Default string // as oslo would write it in a sample file
	Min     string
	Max     string
	Choices []string
	Aliases []string // other "group/name" spellings accepted

	index []int
	kind  reflect.Type
	isInt bool
	multi bool
}

type schema struct {
	groups  map[string][]*OptionInfo // group -> options in declaration order
	byName  map[string]*OptionInfo   // "group/name" -> option (names and aliases)
	ordered []string                 // group names in declaration order
}

var (
	schemaOnce sync.Once
	theSchema  *schema
	durType    = reflect.TypeOf(time.Duration(0))
)

func optionSchema() *schema {
	schemaOnce.Do(func() {
		s := &schema{groups: map[string][]*OptionInfo{}, byName: map[string]*OptionInfo{}}
		ct := reflect.TypeOf(Config{})
		for i := 0; i < ct.NumField(); i++ {
			gf := ct.Field(i)
			group := gf.Tag.Get("group")
			if group == "" {
				continue
			}
			s.ordered = append(s.ordered, group)
			for j := 0; j < gf.Type.NumField(); j++ {
				f := gf.Type.Field(j)
				name := f.Tag.Get("oslo")
				if name == "" {
					continue
				}
				o := &OptionInfo{
					Group: group, Name: name, Default: f.Tag.Get("default"),
					Min: f.Tag.Get("min"), Max: f.Tag.Get("max"),
					index: []int{i, j}, kind: f.Type,
					isInt: f.Tag.Get("int") == "true", multi: f.Tag.Get("multi") == "true",
				}
				if c := f.Tag.Get("choices"); c != "" {
					o.Choices = strings.Split(c, "|")
				}
				o.Type = typeName(o)
				s.groups[group] = append(s.groups[group], o)
				s.byName[group+"/"+name] = o
				if a := f.Tag.Get("alias"); a != "" {
					for _, alias := range strings.Split(a, ",") {
						g, n, _ := strings.Cut(alias, "/")
						if g == "" {
							g = group
						}
						o.Aliases = append(o.Aliases, g+"/"+n)
						s.byName[g+"/"+n] = o
					}
				}
			}
		}
		theSchema = s
	})
	return theSchema
}

func typeName(o *OptionInfo) string {
	switch {
	case o.kind == durType && o.isInt:
		return "integer seconds"
	case o.kind == durType:
		return "seconds"
	case o.multi:
		return "multi-valued"
	}
	switch o.kind.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.Int:
		return "integer"
	case reflect.Slice:
		return "list"
	case reflect.Map:
		return "dict"
	}
	return "string"
}

// Groups lists the option groups Switchyard knows, [DEFAULT] first.
func Groups() []string { return slices.Clone(optionSchema().ordered) }

// Options lists the options of a group in declaration order; nil for an
// unknown group.
func Options(group string) []OptionInfo {
	var out []OptionInfo
	for _, o := range optionSchema().groups[group] {
		out = append(out, *o)
	}
	return out
}

// LookupOption finds the option that group/name sets, following aliases;
// the returned info carries the option's own group and name.
func LookupOption(group, name string) (OptionInfo, bool) {
	o, ok := optionSchema().byName[group+"/"+name]
	if !ok {
		return OptionInfo{}, false
	}
	return *o, true
}

// SuggestOption returns the option name of group nearest to name, or "" when
// nothing is close.
func SuggestOption(group, name string) string {
	var names []string
	for _, o := range optionSchema().groups[group] {
		names = append(names, o.Name)
	}
	return spelling.Nearest(name, names, max(2, len(name)/3))
}

// IsKnownGroup reports whether group is one of Groups().
func IsKnownGroup(group string) bool {
	_, ok := optionSchema().groups[group]
	return ok
}

var (
	defaultsOnce sync.Once
	defaults     Config
)

// DefaultConfig returns a new Config holding every option's default.
func DefaultConfig() *Config {
	defaultsOnce.Do(func() {
		s := optionSchema()
		for _, g := range s.ordered {
			for _, o := range s.groups[g] {
				if o.Default == "" {
					continue
				}
				vals := []string{o.Default}
				if o.multi {
					vals = strings.Split(o.Default, ",")
				}
				if err := defaults.setOption(o, vals); err != nil {
					panic(fmt.Sprintf("drivers: bad default for %s/%s: %v", g, o.Name, err))
				}
			}
		}
	})
	return defaults.Clone()
}

// Clone returns a deep copy of c.
func (c *Config) Clone() *Config {
	n := *c
	n.Notifications.Driver = slices.Clone(c.Notifications.Driver)
	n.Notifications.Topics = slices.Clone(c.Notifications.Topics)
	n.AMQP.PreSettled = slices.Clone(c.AMQP.PreSettled)
	n.AllowedRemoteExmods = slices.Clone(c.AllowedRemoteExmods)
	if c.Pika.SSLOptions != nil {
		n.Pika.SSLOptions = make(map[string]string, len(c.Pika.SSLOptions))
		for k, v := range c.Pika.SSLOptions {
			n.Pika.SSLOptions[k] = v
		}
	}
	return &n
}

// Set parses values as oslo.config would and stores them in the option that
// group/name names (following aliases). For multi-valued options each value
// is one item and the list is replaced; otherwise the last value wins.
func (c *Config) Set(group, name string, values ...string) error {
	o, ok := optionSchema().byName[group+"/"+name]
	if !ok {
		return &OptionError{Group: group, Name: name, unknown: true, Suggestion: SuggestOption(group, name)}
	}
	if len(values) == 0 {
		return &OptionError{Group: group, Name: name, Reason: "no value given"}
	}
	if err := c.setOption(o, values); err != nil {
		var oe *OptionError
		if errors.As(err, &oe) {
			oe.Group, oe.Name = group, name
		}
		return err
	}
	return nil
}

// Get returns the option's current value formatted as oslo.config would
// accept it back; ok is false for an unknown option.
func (c *Config) Get(group, name string) (value string, ok bool) {
	o, ok := optionSchema().byName[group+"/"+name]
	if !ok {
		return "", false
	}
	v := reflect.ValueOf(c).Elem().FieldByIndex(o.index)
	switch {
	case o.kind == durType:
		return strconv.FormatFloat(v.Interface().(time.Duration).Seconds(), 'f', -1, 64), true
	case o.kind.Kind() == reflect.Slice:
		return strings.Join(v.Interface().([]string), ","), true
	case o.kind.Kind() == reflect.Map:
		m := v.Interface().(map[string]string)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + ":" + m[k]
		}
		return strings.Join(parts, ","), true
	}
	return fmt.Sprint(v.Interface()), true
}

func (c *Config) setOption(o *OptionInfo, values []string) error {
	bad := func(v, reason string) error {
		return &OptionError{Group: o.Group, Name: o.Name, Value: v, Reason: reason}
	}
	last := values[len(values)-1]
	field := reflect.ValueOf(c).Elem().FieldByIndex(o.index)
	switch {
	case o.kind == durType:
		s := strings.TrimSpace(last)
		var secs float64
		if o.isInt {
			n, err := strconv.Atoi(s)
			if err != nil {
				return bad(last, "want an integer number of seconds")
			}
			secs = float64(n)
		} else {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return bad(last, "want a number of seconds")
			}
			secs = f
		}
		if err := checkBounds(o, secs); err != "" {
			return bad(last, err)
		}
		if math.Abs(secs) > float64(math.MaxInt64)/float64(time.Second) {
			return bad(last, "too large")
		}
		field.SetInt(int64(secs * float64(time.Second)))
	case o.kind.Kind() == reflect.Int:
		n, err := strconv.Atoi(strings.TrimSpace(last))
		if err != nil {
			return bad(last, "want an integer")
		}
		if err := checkBounds(o, float64(n)); err != "" {
			return bad(last, err)
		}
		field.SetInt(int64(n))
	case o.kind.Kind() == reflect.Bool:
		switch strings.ToLower(strings.TrimSpace(last)) {
		case "true", "1", "on", "yes":
			field.SetBool(true)
		case "false", "0", "off", "no":
			field.SetBool(false)
		default:
			return bad(last, "want a boolean: true/false, yes/no, on/off or 1/0")
		}
	case o.kind.Kind() == reflect.String:
		if len(o.Choices) > 0 && !slices.Contains(o.Choices, last) {
			return bad(last, "want one of "+strings.Join(o.Choices, ", "))
		}
		field.SetString(last)
	case o.kind.Kind() == reflect.Slice:
		var items []string
		if o.multi {
			items = slices.Clone(values)
		} else {
			items = parseList(last)
		}
		for _, it := range items {
			if len(o.Choices) > 0 && !slices.Contains(o.Choices, it) {
				return bad(it, "want items from "+strings.Join(o.Choices, ", "))
			}
		}
		field.Set(reflect.ValueOf(items))
	case o.kind.Kind() == reflect.Map:
		m, err := parseDict(last)
		if err != "" {
			return bad(last, err)
		}
		field.Set(reflect.ValueOf(m))
	default:
		return bad(last, "unsupported option type")
	}
	return nil
}

func checkBounds(o *OptionInfo, v float64) string {
	if o.Min != "" {
		if m, _ := strconv.ParseFloat(o.Min, 64); v < m {
			return "must be at least " + o.Min
		}
	}
	if o.Max != "" {
		if m, _ := strconv.ParseFloat(o.Max, 64); v > m {
			return "must be at most " + o.Max
		}
	}
	return ""
}

// parseList splits an oslo ListOpt value: comma-separated, items trimmed,
// a trailing comma ignored.
func parseList(s string) []string {
	s = strings.TrimRight(strings.TrimSpace(s), ",")
	if s == "" {
		return []string{}
	}
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// parseDict parses an oslo DictOpt value, "k1:v1,k2:v2".
func parseDict(s string) (map[string]string, string) {
	m := map[string]string{}
	for _, part := range parseList(s) {
		k, v, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Sprintf("item %q is not key:value", part)
		}
		k = strings.TrimSpace(k)
		if _, dup := m[k]; dup {
			return nil, fmt.Sprintf("key %q given twice", k)
		}
		m[k] = strings.TrimSpace(v)
	}
	return m, ""
}

// ApplyQuery returns a copy of c in which the transport URL's query options
// override the options of group, as oslo's ConfigOptsProxy does. A key that
// is not an option of the group is an error naming the nearest valid one.
func (c *Config) ApplyQuery(group string, query map[string]string) (*Config, error) {
	n := c.Clone()
	keys := make([]string, 0, len(query))
	for k := range query {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		o, ok := optionSchema().byName[group+"/"+k]
		if !ok || o.Group != group {
			return nil, &OptionError{Group: group, Name: k, unknown: true, Suggestion: SuggestOption(group, k)}
		}
		vals := []string{query[k]}
		if o.multi {
			vals = parseList(query[k])
		}
		if err := n.setOption(o, vals); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// Expand returns a copy of c with oslo.config substitutions resolved in every
// string option: $name or ${name} is the option name of the same group or,
// failing that, of [DEFAULT]; ${group.name} names the group; $$ is a dollar.
func (c *Config) Expand() (*Config, error) {
	n := c.Clone()
	s := optionSchema()
	for _, g := range s.ordered {
		for _, o := range s.groups[g] {
			if o.kind.Kind() != reflect.String {
				continue
			}
			f := reflect.ValueOf(n).Elem().FieldByIndex(o.index)
			v, err := c.substitute(g, f.String(), 0)
			if err != nil {
				return nil, &OptionError{Group: g, Name: o.Name, Value: f.String(), Reason: err.Error()}
			}
			f.SetString(v)
		}
	}
	return n, nil
}

func (c *Config) substitute(group, v string, depth int) (string, error) {
	if !strings.Contains(v, "$") {
		return v, nil
	}
	if depth > 8 {
		return "", errors.New("substitution nested too deeply (a reference loop?)")
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '$' {
			b.WriteByte(v[i])
			continue
		}
		rest := v[i+1:]
		var ref string
		switch {
		case strings.HasPrefix(rest, "$"):
			b.WriteByte('$')
			i++
			continue
		case strings.HasPrefix(rest, "{"):
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				return "", errors.New("unterminated ${")
			}
			ref = rest[1:end]
			i += end + 1
		default:
			j := 0
			for j < len(rest) && (rest[j] == '_' || rest[j] >= 'a' && rest[j] <= 'z' || rest[j] >= 'A' && rest[j] <= 'Z' || rest[j] >= '0' && rest[j] <= '9') {
				j++
			}
			if j == 0 {
				b.WriteByte('$')
				continue
			}
			ref = rest[:j]
			i += j
		}
		g, name := group, ref
		if gg, nn, ok := strings.Cut(ref, "."); ok {
			g, name = gg, nn
		}
		val, ok := c.Get(g, name)
		if !ok && g == group {
			val, ok = c.Get("DEFAULT", name)
			g = "DEFAULT"
		}
		if !ok {
			return "", fmt.Errorf("refers to unknown option $%s", ref)
		}
		sub, err := c.substitute(g, val, depth+1)
		if err != nil {
			return "", err
		}
		b.WriteString(sub)
	}
	return b.String(), nil
}
