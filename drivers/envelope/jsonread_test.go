package envelope

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// stdlibJSON is the reference UnmarshalJSON is held to: encoding/json
// with UseNumber, and nothing but white space after the value.
func stdlibJSON(data []byte) (any, error) {
	if !json.Valid(data) {
		return nil, json.Unmarshal(data, new(any))
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}

var jsonSeeds = []string{
	`{"a": [1, 2.5, "\u00e9", null, true]}`, `"\ud834\udd1e"`, `"\ud834"`, `"\udd1e\ud834x"`, `"\ud834\u0041"`,
	`1e400`, `-0.0`, `[[[]]]`, `{"":{}}`, `{"a":1,"a":2}`, "\"\xff\xfe\"", "\"caf\xc3\xa9\"", `"\/\b\f\n\r\t"`,
	`{}]`, `{} {}`, `01`, `-`, `1.`, `1e`, `.5`, `tru`, `nul`, `"\x"`, `"\u12"`, "\"a\tb\"", ` [ 1 , 2 ] `,
	`{"oslo.version": "2.0", "oslo.message": "{\"method\": \"echo\", \"args\": {\"n\": 1}}"}`,
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001), strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
}

// TestUnmarshalJSONMatchesStdlib: the reader accepts and rejects what
// encoding/json does and gives the same values.
func TestUnmarshalJSONMatchesStdlib(t *testing.T) {
	for _, s := range jsonSeeds {
		checkAgainstStdlib(t, []byte(s))
	}
}

// TestUnmarshalJSONRejectsTrailingData: anything but white space after
// the value is an error, even a stray closing bracket.
func TestUnmarshalJSONRejectsTrailingData(t *testing.T) {
	for _, s := range []string{`{}]`, `{}}`, `{} {}`, `1 2`, `"a"x`} {
		if _, err := UnmarshalJSON([]byte(s)); err == nil {
			t.Errorf("%s: accepted", s)
		}
	}
	if _, err := UnmarshalJSON([]byte(" {} \n\t")); err != nil {
		t.Errorf("white space after the value refused: %v", err)
	}
}

func checkAgainstStdlib(t *testing.T, data []byte) {
	t.Helper()
	got, err := UnmarshalJSON(data)
	want, wantErr := stdlibJSON(data)
	switch {
	case (err == nil) != (wantErr == nil):
		t.Fatalf("%q: error %v, encoding/json: %v", data, err, wantErr)
	case err == nil && !reflect.DeepEqual(got, want):
		t.Fatalf("%q: got %#v, encoding/json: %#v", data, got, want)
	}
}

// FuzzUnmarshalJSON: a differential target against encoding/json.
func FuzzUnmarshalJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkAgainstStdlib(t, data) })
}

func BenchmarkUnmarshalJSON(b *testing.B) {
	body := []byte(`{"oslo.version": "2.0", "oslo.message": "{\"method\": \"echo\", \"args\": {\"n\": 1, \"name\": \"caf\\u00e9\"}, \"_msg_id\": \"0123456789abcdef0123456789abcdef\", \"_reply_q\": \"reply_0123456789abcdef0123456789abcdef\", \"_timeout\": null, \"_unique_id\": \"0123456789abcdef0123456789abcdef\"}"}`)
	b.Run("reader", func(b *testing.B) {
		for b.Loop() {
			if _, err := Decode(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			v, err := stdlibJSON(body)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := stdlibJSON([]byte(v.(map[string]any)[KeyMessage].(string))); err != nil {
				b.Fatal(err)
			}
		}
	})
}
