package contract

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// parseJSON reads a JSON value written in a feature file.
func parseJSON(s string) (any, error) {
	var v any
	if err := json.Unmarshal([]byte(strings.TrimSpace(s)), &v); err != nil {
		return nil, fmt.Errorf("%q is not JSON: %w", s, err)
	}
	return v, nil
}

// normalize turns any JSON-representable value into the form
// encoding/json decodes to (float64 numbers, map[string]any, []any), so
// values built in Go and values a driver decoded compare equal when they
// are the same JSON.
func normalize(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	err = json.Unmarshal(b, &out)
	return out, err
}

// jsonDiff describes how got differs from want as JSON, or returns "".
func jsonDiff(want, got any) string {
	w, err := normalize(want)
	if err != nil {
		return "the expected value is not JSON: " + err.Error()
	}
	g, err := normalize(got)
	if err != nil {
		return fmt.Sprintf("the received value (%T) is not JSON: %v", got, err)
	}
	if reflect.DeepEqual(w, g) {
		return ""
	}
	return describeDiff("", w, g)
}

func describeDiff(path string, want, got any) string {
	where := path
	if where == "" {
		where = "the value"
	}
	switch wv := want.(type) {
	case map[string]any:
		gv, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: want an object, got %s", where, short(got))
		}
		keys := make([]string, 0, len(wv)+len(gv))
		for k := range wv {
			keys = append(keys, k)
		}
		for k := range gv {
			if _, ok := wv[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			a, inW := wv[k]
			b, inG := gv[k]
			switch {
			case !inG:
				return fmt.Sprintf("%s.%s is missing", where, k)
			case !inW:
				return fmt.Sprintf("%s.%s was added (%s)", where, k, short(b))
			case !reflect.DeepEqual(a, b):
				return describeDiff(path+"."+k, a, b)
			}
		}
	case []any:
		gv, ok := got.([]any)
		if !ok {
			return fmt.Sprintf("%s: want a list, got %s", where, short(got))
		}
		if len(wv) != len(gv) {
			return fmt.Sprintf("%s: want %d items, got %d", where, len(wv), len(gv))
		}
		for i := range wv {
			if !reflect.DeepEqual(wv[i], gv[i]) {
				return describeDiff(fmt.Sprintf("%s[%d]", path, i), wv[i], gv[i])
			}
		}
	}
	return fmt.Sprintf("%s: want %s, got %s", where, short(want), short(got))
}

func short(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	s := string(b)
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}
