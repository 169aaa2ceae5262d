package envelope

import (
	"encoding/json"
	"fmt"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// maxNesting is how deeply arrays and objects may nest in what is read,
// as in encoding/json.
const maxNesting = 10000

// jsonReader decodes one JSON text into the values UnmarshalJSON promises.
// It gives exactly what encoding/json's Decoder with UseNumber gives (the
// differential fuzz target FuzzUnmarshalJSON holds it to that) at about a
// third of the cost: every message and reply passes through it twice.
type jsonReader struct {
	data  []byte
	pos   int
	depth int
}

// syntaxError reports what was found where a JSON text was expected.
func (r *jsonReader) syntaxError(what string) error {
	if r.pos >= len(r.data) {
		return fmt.Errorf("unexpected end of JSON input (%s)", what)
	}
	return fmt.Errorf("invalid character %q at offset %d (%s)", r.data[r.pos], r.pos, what)
}

func (r *jsonReader) skipSpace() {
	for r.pos < len(r.data) {
		switch r.data[r.pos] {
		case ' ', '\t', '\n', '\r':
			r.pos++
		default:
			return
		}
	}
}

// document reads one value and nothing but white space after it.
func (r *jsonReader) document() (any, error) {
	v, err := r.value()
	if err != nil {
		return nil, err
	}
	r.skipSpace()
	if r.pos < len(r.data) {
		return nil, fmt.Errorf("unexpected data after the JSON value at offset %d", r.pos)
	}
	return v, nil
}

func (r *jsonReader) value() (any, error) {
	r.skipSpace()
	if r.pos >= len(r.data) {
		return nil, r.syntaxError("looking for a value")
	}
	switch c := r.data[r.pos]; {
	case c == '{':
		return r.object()
	case c == '[':
		return r.array()
	case c == '"':
		return r.str()
	case c == 't':
		return true, r.literal("true")
	case c == 'f':
		return false, r.literal("false")
	case c == 'n':
		return nil, r.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return r.number()
	}
	return nil, r.syntaxError("looking for a value")
}

func (r *jsonReader) literal(word string) error {
	for i := 0; i < len(word); i++ {
		if r.pos >= len(r.data) || r.data[r.pos] != word[i] {
			return r.syntaxError("in literal " + word)
		}
		r.pos++
	}
	return nil
}

func (r *jsonReader) nest() error {
	r.depth++
	if r.depth > maxNesting {
		return fmt.Errorf("JSON nested deeper than %d levels", maxNesting)
	}
	return nil
}

func (r *jsonReader) object() (any, error) {
	if err := r.nest(); err != nil {
		return nil, err
	}
	r.pos++ // '{'
	m := make(map[string]any, 8)
	r.skipSpace()
	if r.pos < len(r.data) && r.data[r.pos] == '}' {
		r.pos++
		r.depth--
		return m, nil
	}
	for {
		r.skipSpace()
		if r.pos >= len(r.data) || r.data[r.pos] != '"' {
			return nil, r.syntaxError("looking for the beginning of an object key")
		}
		k, err := r.str()
		if err != nil {
			return nil, err
		}
		r.skipSpace()
		if r.pos >= len(r.data) || r.data[r.pos] != ':' {
			return nil, r.syntaxError("after an object key")
		}
		r.pos++
		v, err := r.value()
		if err != nil {
			return nil, err
		}
		m[k] = v
		r.skipSpace()
		if r.pos >= len(r.data) {
			return nil, r.syntaxError("after an object member")
		}
		switch r.data[r.pos] {
		case ',':
			r.pos++
		case '}':
			r.pos++
			r.depth--
			return m, nil
		default:
			return nil, r.syntaxError("after an object member")
		}
	}
}

func (r *jsonReader) array() (any, error) {
	if err := r.nest(); err != nil {
		return nil, err
	}
	r.pos++ // '['
	a := []any{}
	r.skipSpace()
	if r.pos < len(r.data) && r.data[r.pos] == ']' {
		r.pos++
		r.depth--
		return a, nil
	}
	for {
		v, err := r.value()
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		r.skipSpace()
		if r.pos >= len(r.data) {
			return nil, r.syntaxError("after an array element")
		}
		switch r.data[r.pos] {
		case ',':
			r.pos++
		case ']':
			r.pos++
			r.depth--
			return a, nil
		default:
			return nil, r.syntaxError("after an array element")
		}
	}
}

// number reads a number as JSON writes it and keeps its text.
func (r *jsonReader) number() (any, error) {
	start := r.pos
	d := r.data
	if d[r.pos] == '-' {
		r.pos++
	}
	switch {
	case r.pos < len(d) && d[r.pos] == '0':
		r.pos++
	case r.pos < len(d) && d[r.pos] >= '1' && d[r.pos] <= '9':
		r.digits()
	default:
		return nil, r.syntaxError("in numeric literal")
	}
	if r.pos < len(d) && d[r.pos] == '.' {
		r.pos++
		if r.digits() == 0 {
			return nil, r.syntaxError("after decimal point in numeric literal")
		}
	}
	if r.pos < len(d) && (d[r.pos] == 'e' || d[r.pos] == 'E') {
		r.pos++
		if r.pos < len(d) && (d[r.pos] == '+' || d[r.pos] == '-') {
			r.pos++
		}
		if r.digits() == 0 {
			return nil, r.syntaxError("in exponent of numeric literal")
		}
	}
	return json.Number(d[start:r.pos]), nil
}

func (r *jsonReader) digits() int {
	n := 0
	for r.pos < len(r.data) && r.data[r.pos] >= '0' && r.data[r.pos] <= '9' {
		r.pos++
		n++
	}
	return n
}

// str reads a string. Text without escapes or non-ASCII bytes is copied
// in one piece; otherwise escapes are resolved, and invalid UTF-8 and lone
// surrogates become U+FFFD, as encoding/json does.
func (r *jsonReader) str() (string, error) {
	r.pos++ // '"'
	start := r.pos
	d := r.data
	for r.pos < len(d) {
		c := d[r.pos]
		switch {
		case c == '"':
			s := string(d[start:r.pos])
			r.pos++
			return s, nil
		case c == '\\' || c >= utf8.RuneSelf:
			return r.strSlow(start)
		case c < 0x20:
			return "", r.syntaxError("in string literal")
		}
		r.pos++
	}
	return "", r.syntaxError("in string literal")
}

func (r *jsonReader) strSlow(start int) (string, error) {
	d := r.data
	out := make([]byte, r.pos-start, r.pos-start+16)
	copy(out, d[start:r.pos])
	for r.pos < len(d) {
		c := d[r.pos]
		switch {
		case c == '"':
			r.pos++
			return string(out), nil
		case c < 0x20:
			return "", r.syntaxError("in string literal")
		case c >= utf8.RuneSelf:
			rr, size := utf8.DecodeRune(d[r.pos:])
			if rr == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, unicode.ReplacementChar)
			} else {
				out = append(out, d[r.pos:r.pos+size]...)
			}
			r.pos += size
		case c != '\\':
			out = append(out, c)
			r.pos++
		default:
			r.pos++
			if r.pos >= len(d) {
				return "", r.syntaxError("in string escape code")
			}
			e := d[r.pos]
			r.pos++
			switch e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				rr, err := r.hex4()
				if err != nil {
					return "", err
				}
				if utf16.IsSurrogate(rr) {
					// A pair only when a second \u escape follows and
					// completes it; anything else leaves U+FFFD.
					if r.pos+1 < len(d) && d[r.pos] == '\\' && d[r.pos+1] == 'u' {
						save := r.pos
						r.pos += 2
						rr2, err := r.hex4()
						if err != nil {
							return "", err
						}
						if dec := utf16.DecodeRune(rr, rr2); dec != unicode.ReplacementChar {
							out = utf8.AppendRune(out, dec)
							continue
						}
						r.pos = save
					}
					rr = unicode.ReplacementChar
				}
				out = utf8.AppendRune(out, rr)
			default:
				r.pos--
				return "", r.syntaxError("in string escape code")
			}
		}
	}
	return "", r.syntaxError("in string literal")
}

// hex4 reads the four hex digits of a \u escape.
func (r *jsonReader) hex4() (rune, error) {
	var v rune
	for range 4 {
		if r.pos >= len(r.data) {
			return 0, r.syntaxError("in \\u hexadecimal character escape")
		}
		c := r.data[r.pos]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, r.syntaxError("in \\u hexadecimal character escape")
		}
		v = v<<4 | rune(c)
		r.pos++
	}
	return v, nil
}
