package amqp091

import (
	"math"
	"reflect"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// genString draws a string of up to max arbitrary bytes.
func genString(max int) *rapid.Generator[string] {
	return rapid.Map(rapid.SliceOfN(rapid.Byte(), 0, max), func(b []byte) string { return string(b) })
}

// genTimestamp draws a whole-second UTC time over the full 64-bit range.
func genTimestamp() *rapid.Generator[time.Time] {
	return rapid.Map(rapid.Int64(), func(s int64) time.Time { return time.Unix(s, 0).UTC() })
}

// genValue draws a field value of any type, nesting containers up to
// depth more levels. Empty containers are drawn as nil, which is how they
// decode.
func genValue(depth int) *rapid.Generator[any] {
	gens := []*rapid.Generator[any]{
		rapid.Bool().AsAny(),
		rapid.Int8().AsAny(),
		rapid.Uint8().AsAny(),
		rapid.Int16().AsAny(),
		rapid.Uint16().AsAny(),
		rapid.Int32().AsAny(),
		rapid.Uint32().AsAny(),
		rapid.Int64().AsAny(),
		rapid.Map(rapid.Uint32(), math.Float32frombits).AsAny(),
		rapid.Map(rapid.Uint64(), math.Float64frombits).AsAny(),
		rapid.Custom(func(t *rapid.T) Decimal {
			return Decimal{Scale: rapid.Uint8().Draw(t, "scale"), Value: rapid.Int32().Draw(t, "value")}
		}).AsAny(),
		genString(300).AsAny(),
		rapid.Map(rapid.SliceOfN(rapid.Byte(), 1, 64), func(b []byte) []byte { return b }).AsAny(),
		genTimestamp().AsAny(),
		rapid.Just[any](nil),
	}
	if depth > 0 {
		gens = append(gens,
			genTable(depth-1).AsAny(),
			rapid.Custom(func(t *rapid.T) []any {
				a := rapid.SliceOfN(genValue(depth-1), 0, 4).Draw(t, "array")
				if len(a) == 0 {
					return nil
				}
				return a
			}).AsAny(),
		)
	}
	return rapid.OneOf(gens...)
}

// genTable draws a table whose values nest at most depth more levels.
func genTable(depth int) *rapid.Generator[Table] {
	return rapid.Custom(func(t *rapid.T) Table {
		m := rapid.MapOfN(genString(20), genValue(depth), 0, 6).Draw(t, "entries")
		if len(m) == 0 {
			return nil
		}
		return Table(m)
	})
}

func TestRapidTableRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tab := genTable(3).Draw(t, "table")
		wire, err := AppendTable(nil, tab)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeTable(wire)
		if err != nil {
			t.Fatalf("decode %x: %v", wire, err)
		}
		if !deepEqual(got, tab) {
			t.Fatalf("got %#v, want %#v", got, tab)
		}
	})
}

// genMethod draws any method with random field values. Strings stay within
// a shortstr's 255 bytes since long and short strings share one Go type.
func genMethod() *rapid.Generator[Method] {
	protos := allMethods()
	return rapid.Custom(func(t *rapid.T) Method {
		m := freshMethod(rapid.SampledFrom(protos).Draw(t, "method"))
		v := reflect.ValueOf(m).Elem()
		for i := range v.NumField() {
			f := v.Field(i)
			name := v.Type().Field(i).Name
			switch f.Kind() {
			case reflect.Bool:
				f.SetBool(rapid.Bool().Draw(t, name))
			case reflect.Uint8:
				f.SetUint(uint64(rapid.Uint8().Draw(t, name)))
			case reflect.Uint16:
				f.SetUint(uint64(rapid.Uint16().Draw(t, name)))
			case reflect.Uint32:
				f.SetUint(uint64(rapid.Uint32().Draw(t, name)))
			case reflect.Uint64:
				f.SetUint(rapid.Uint64().Draw(t, name))
			case reflect.String:
				f.SetString(genString(255).Draw(t, name))
			case reflect.Map:
				f.Set(reflect.ValueOf(genTable(2).Draw(t, name)))
			case reflect.Struct:
				f.Set(reflect.ValueOf(genTimestamp().Draw(t, name)))
			default:
				t.Fatalf("unhandled field %s of kind %s", name, f.Kind())
			}
		}
		return m
	})
}

func TestRapidMethodRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := genMethod().Draw(t, "m")
		payload, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeMethod(payload)
		if err != nil {
			t.Fatalf("decode %x: %v", payload, err)
		}
		if !deepEqual(got, m) {
			t.Fatalf("got %#v, want %#v", got, m)
		}
	})
}

func TestRapidContentHeaderRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := func(label string) string { return genString(255).Draw(t, label) }
		h := ContentHeader{
			ClassID:  rapid.Uint16().Draw(t, "class"),
			Weight:   rapid.Uint16().Draw(t, "weight"),
			BodySize: rapid.Uint64().Draw(t, "size"),
			Properties: Properties{
				Flags:           rapid.Uint16().Draw(t, "flags") & propertyMask,
				ContentType:     s("content-type"),
				ContentEncoding: s("content-encoding"),
				Headers:         genTable(2).Draw(t, "headers"),
				DeliveryMode:    rapid.Uint8().Draw(t, "delivery-mode"),
				Priority:        rapid.Uint8().Draw(t, "priority"),
				CorrelationID:   s("correlation-id"),
				ReplyTo:         s("reply-to"),
				Expiration:      s("expiration"),
				MessageID:       s("message-id"),
				Timestamp:       genTimestamp().Draw(t, "timestamp"),
				Type:            s("type"),
				UserID:          s("user-id"),
				AppID:           s("app-id"),
				ClusterID:       s("cluster-id"),
			},
		}
		wire, err := h.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got ContentHeader
		if err := got.UnmarshalBinary(wire); err != nil {
			t.Fatalf("decode %x: %v", wire, err)
		}
		// Decoding records every property that was sent.
		want := h
		want.Properties.Flags = h.Properties.flags()
		if !deepEqual(got, want) {
			t.Fatalf("got %#v, want %#v", got, want)
		}
	})
}
