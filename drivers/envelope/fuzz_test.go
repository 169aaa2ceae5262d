package envelope

import (
	"reflect"
	"testing"
)

// FuzzDecode feeds arbitrary bodies to the request and reply decoders: they
// must return an error or a value, never panic, and whatever decodes must
// encode again and decode to the same values.
func FuzzDecode(f *testing.F) {
	for _, c := range loadGoldenF(f) {
		f.Add([]byte(c.Body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if in, err := Decode(body); err == nil {
			version := "1.0"
			if in.Wrapped {
				version = "2.0"
			}
			out, err := Outgoing{Message: in.Message, Context: in.Context, MsgID: in.MsgID, ReplyQueue: in.ReplyQueue,
				Timeout: in.Timeout, UniqueID: in.UniqueID}.Encode(version)
			if err != nil {
				// Keys starting with "_" other than oslo's are refused on
				// the way out; anything else must encode.
				for k := range in.Message {
					if len(k) > 0 && k[0] == '_' {
						return
					}
				}
				if in.MsgID == "" && in.ReplyQueue != "" {
					return
				}
				t.Fatalf("decoded %+v but cannot encode it: %v", in, err)
			}
			again, err := Decode(out)
			if err != nil {
				t.Fatalf("re-decode: %v\n%s", err, out)
			}
			if !reflect.DeepEqual(again.Message, in.Message) || !reflect.DeepEqual(again.Context, in.Context) {
				t.Fatalf("round trip changed the message\n%+v\n%+v", in, again)
			}
		}
		if r, err := DecodeReply(body, []string{"nova.exception"}); err == nil {
			if _, err := r.Encode(); err != nil {
				t.Fatalf("decoded reply %+v cannot encode: %v", r, err)
			}
		}
	})
}

// FuzzJSON checks that the Python-style encoder writes JSON that reads back
// to the same value, for any JSON input.
func FuzzJSON(f *testing.F) {
	for _, s := range []string{`{"a": [1, 2.5, "\u00e9", null, true]}`, `"\ud834\udd1e"`, `1e400`, `-0.0`, `[[[]]]`, `{"":{}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := UnmarshalJSON(data)
		if err != nil {
			return
		}
		out, err := MarshalJSON(v)
		if err != nil {
			return // numbers outside float64 range, depth limit
		}
		back, err := UnmarshalJSON(out)
		if err != nil {
			t.Fatalf("our output is not JSON: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(v, back) {
			t.Fatalf("round trip changed the value\n in: %s\nout: %s", data, out)
		}
	})
}

func loadGoldenF(f *testing.F) []goldenCase {
	return decodeGolden(f, mustRead(f, "testdata/golden.json"))
}
