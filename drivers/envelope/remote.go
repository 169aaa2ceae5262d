package envelope

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/switchyard-dev/switchyard/drivers"
)

// remoteSuffix marks an exception class that a Python client rebuilt from
// a remote failure; it is stripped when such an exception is sent on.
const remoteSuffix = "_Remote"

// builtinsModule is where oslo looks up exceptions of the modules
// "builtins" and "exceptions" (its Python 2 name); they are always allowed.
const builtinsModule = "builtins"

// FailureOf converts an error into the remote error sent back to a caller.
// A *drivers.RemoteError (found with errors.As) is sent as it is; any other
// error becomes builtins.Exception with the error text as its message and
// only argument, which a Python caller rebuilds as an Exception.
func FailureOf(err error) *drivers.RemoteError {
	var re *drivers.RemoteError
	if errors.As(err, &re) {
		return re
	}
	msg := err.Error()
	return &drivers.RemoteError{
		Class:     "Exception",
		Module:    builtinsModule,
		Message:   msg,
		Traceback: []string{fmt.Sprintf("Go error %s: %s\n", typeName(err), msg)},
		Args:      []any{msg},
		Kwargs:    map[string]any{},
	}
}

func typeName(v any) string {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.PkgPath() == "" {
		return t.String()
	}
	return t.PkgPath() + "." + t.Name()
}

// SerializeFailure returns the JSON string oslo's serialize_remote_exception
// makes: {"class", "module", "message", "tb", "args", "kwargs"}, with a
// "_Remote" suffix stripped when both class and module carry it.
func SerializeFailure(f *drivers.RemoteError) (string, error) {
	cls, mod := f.Class, f.Module
	if strings.HasSuffix(cls, remoteSuffix) && strings.HasSuffix(mod, remoteSuffix) {
		cls = strings.TrimSuffix(cls, remoteSuffix)
		mod = strings.TrimSuffix(mod, remoteSuffix)
	}
	tb := f.Traceback
	if tb == nil {
		tb = []string{}
	}
	args := f.Args
	if args == nil {
		args = []any{}
	}
	kwargs := f.Kwargs
	if kwargs == nil {
		kwargs = map[string]any{}
	}
	var o Object
	o.Set("class", cls)
	o.Set("module", mod)
	o.Set("message", f.Message)
	o.Set("tb", tb)
	o.Set("args", args)
	o.Set("kwargs", kwargs)
	b, err := MarshalJSON(&o)
	if err != nil {
		return "", fmt.Errorf("exception %s.%s cannot be serialized: %w", mod, cls, err)
	}
	return string(b), nil
}

// DeserializeFailure rebuilds a serialized exception as oslo's
// deserialize_remote_exception decides: "exceptions" is read as
// "builtins"; a class from builtins or from a module in allowed is marked
// Rebuilt (a Python caller would raise that class); any other becomes the
// generic remote error. Missing fields take oslo's defaults.
func DeserializeFailure(data string, allowed []string) (*drivers.RemoteError, error) {
	v, err := UnmarshalJSON([]byte(data))
	if err != nil {
		return nil, fmt.Errorf("serialized exception is not JSON: %w", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("serialized exception is a JSON %s, not an object", jsonKind(v))
	}
	re := &drivers.RemoteError{Kwargs: map[string]any{}}
	fields := []struct {
		key string
		dst *string
	}{{"class", &re.Class}, {"module", &re.Module}, {"message", &re.Message}}
	for _, f := range fields {
		if *f.dst, err = optString("exception "+f.key, m[f.key]); err != nil {
			return nil, err
		}
	}
	switch tb := m["tb"].(type) {
	case nil:
	case []any:
		for _, line := range tb {
			s, ok := line.(string)
			if !ok {
				return nil, fmt.Errorf("exception traceback holds a JSON %s, not a string", jsonKind(line))
			}
			re.Traceback = append(re.Traceback, s)
		}
	default:
		return nil, fmt.Errorf("exception traceback is a JSON %s, not a list", jsonKind(tb))
	}
	switch a := m["args"].(type) {
	case nil:
	case []any:
		re.Args = a
	default:
		return nil, fmt.Errorf("exception args is a JSON %s, not a list", jsonKind(a))
	}
	switch k := m["kwargs"].(type) {
	case nil:
	case map[string]any:
		re.Kwargs = k
	default:
		return nil, fmt.Errorf("exception kwargs is a JSON %s, not an object", jsonKind(k))
	}
	if re.Module == "exceptions" {
		re.Module = builtinsModule
	}
	re.Rebuilt = re.Class != "" && (re.Module == builtinsModule || slices.Contains(allowed, re.Module))
	return re, nil
}
