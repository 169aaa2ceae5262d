package amqp091

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestMethodSet(t *testing.T) {
	ms := allMethods()
	// 60 methods in the extended XML's classes, plus connection.blocked,
	// unblocked, update-secret and update-secret-ok.
	if len(ms) != 64 {
		t.Fatalf("got %d methods, want 64", len(ms))
	}
	names := map[string]bool{}
	for _, m := range ms {
		name := m.Name()
		if names[name] {
			t.Errorf("duplicate method name %s", name)
		}
		names[name] = true
		if got := MethodName(m.ClassID(), m.MethodID()); got != name {
			t.Errorf("MethodName(%d, %d) = %q, want %q", m.ClassID(), m.MethodID(), got, name)
		}
		class, _, _ := strings.Cut(name, ".")
		if got := ClassName(m.ClassID()); got != class {
			t.Errorf("ClassName(%d) = %q, want %q", m.ClassID(), got, class)
		}
		wantContent := map[string]bool{"basic.publish": true, "basic.return": true, "basic.deliver": true, "basic.get-ok": true}[name]
		if m.HasContent() != wantContent {
			t.Errorf("%s: HasContent() = %v", name, m.HasContent())
		}
	}
	for _, want := range []struct {
		m         Method
		name      string
		class, id uint16
	}{
		{&ConnectionBlocked{}, "connection.blocked", 10, 60},
		{&ConnectionUnblocked{}, "connection.unblocked", 10, 61},
		{&ConnectionUpdateSecret{}, "connection.update-secret", 10, 70},
		{&ConnectionUpdateSecretOk{}, "connection.update-secret-ok", 10, 71},
		{&ExchangeBind{}, "exchange.bind", 40, 30},
		{&ExchangeUnbindOk{}, "exchange.unbind-ok", 40, 51},
		{&QueueUnbind{}, "queue.unbind", 50, 50},
		{&BasicNack{}, "basic.nack", 60, 120},
		{&ConfirmSelect{}, "confirm.select", 85, 10},
		{&ConfirmSelectOk{}, "confirm.select-ok", 85, 11},
		{&TxRollbackOk{}, "tx.rollback-ok", 90, 31},
	} {
		if want.m.Name() != want.name || want.m.ClassID() != want.class || want.m.MethodID() != want.id {
			t.Errorf("%T: got %s %d/%d, want %s %d/%d", want.m, want.m.Name(), want.m.ClassID(), want.m.MethodID(), want.name, want.class, want.id)
		}
	}
	if !(&BasicGet{}).Synchronous() || (&BasicPublish{}).Synchronous() || (&BasicAck{}).Synchronous() {
		t.Error("Synchronous flags do not follow the specification")
	}
	if MethodName(60, 999) != "" || ClassName(7) != "" {
		t.Error("unknown ids should have empty names")
	}
}

func TestReplyCodes(t *testing.T) {
	cases := []struct {
		code uint16
		name string
		hard bool
	}{
		{ReplySuccess, "REPLY_SUCCESS", false},
		{ContentTooLarge, "CONTENT_TOO_LARGE", false},
		{NoRoute, "NO_ROUTE", false},
		{NoConsumers, "NO_CONSUMERS", false},
		{ConnectionForced, "CONNECTION_FORCED", true},
		{InvalidPath, "INVALID_PATH", true},
		{AccessRefused, "ACCESS_REFUSED", false},
		{NotFound, "NOT_FOUND", false},
		{ResourceLocked, "RESOURCE_LOCKED", false},
		{PreconditionFailed, "PRECONDITION_FAILED", false},
		{FrameError, "FRAME_ERROR", true},
		{SyntaxError, "SYNTAX_ERROR", true},
		{CommandInvalid, "COMMAND_INVALID", true},
		{ChannelError, "CHANNEL_ERROR", true},
		{UnexpectedFrame, "UNEXPECTED_FRAME", true},
		{ResourceError, "RESOURCE_ERROR", true},
		{NotAllowed, "NOT_ALLOWED", true},
		{NotImplemented, "NOT_IMPLEMENTED", true},
		{InternalError, "INTERNAL_ERROR", true},
		{999, "", true},
	}
	for _, c := range cases {
		if got := ReplyCodeName(c.code); got != c.name {
			t.Errorf("ReplyCodeName(%d) = %q, want %q", c.code, got, c.name)
		}
		if got := IsHardError(c.code); got != c.hard {
			t.Errorf("IsHardError(%d) = %v, want %v", c.code, got, c.hard)
		}
		if got := (&Error{Code: c.code}).Hard(); got != c.hard {
			t.Errorf("(&Error{Code: %d}).Hard() = %v", c.code, got)
		}
	}
	if FrameMethod != 1 || FrameHeader != 2 || FrameBody != 3 || FrameHeartbeat != 8 || FrameEnd != 206 || FrameMinSize != 4096 {
		t.Error("frame constants do not match the specification")
	}
}

// fill sets every field of the struct v points to a value derived from
// seed, so different seeds give different values and bit patterns.
func fill(v reflect.Value, seed uint64) {
	v = v.Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		x := seed*0x9e3779b97f4a7c15 + uint64(i+1)*0x0102030405060708
		switch f.Kind() {
		case reflect.Bool:
			f.SetBool((seed>>uint(i%8))&1 == 1)
		case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			f.SetUint(x) // truncated to the field's size
		case reflect.String:
			f.SetString(fmt.Sprintf("%s-%d-%x", v.Type().Field(i).Name, seed, x))
		case reflect.Map:
			f.Set(reflect.ValueOf(Table{"seed": int64(seed), "name": v.Type().Field(i).Name}))
		case reflect.Struct:
			f.Set(reflect.ValueOf(time.Unix(int64(x>>8), 0).UTC()))
		default:
			panic("unhandled field kind " + f.Kind().String())
		}
	}
}

func TestMethodRoundTrip(t *testing.T) {
	type tc struct {
		name string
		m    Method
	}
	var cases []tc
	for _, proto := range allMethods() {
		cases = append(cases, tc{proto.Name() + "/zero", freshMethod(proto)})
		for _, seed := range []uint64{0xff, 0x55, 0xaa, 1} {
			m := freshMethod(proto)
			fill(reflect.ValueOf(m), seed)
			cases = append(cases, tc{fmt.Sprintf("%s/seed-%#x", proto.Name(), seed), m})
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			payload, err := c.m.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeMethod(payload)
			if err != nil {
				t.Fatalf("DecodeMethod(%x): %v", payload, err)
			}
			if !deepEqual(got, c.m) {
				t.Fatalf("DecodeMethod gave %+v, want %+v", got, c.m)
			}
			into := freshMethod(c.m)
			if err := into.UnmarshalBinary(payload); err != nil {
				t.Fatal(err)
			}
			if !deepEqual(into, c.m) {
				t.Fatalf("UnmarshalBinary gave %+v, want %+v", into, c.m)
			}
			// AppendBinary keeps what is already in the buffer. (Table
			// entries come out in map order, so compare decoded values.)
			appended, err := c.m.AppendBinary([]byte("prefix"))
			if err != nil || !bytes.HasPrefix(appended, []byte("prefix")) || len(appended) != len(payload)+6 {
				t.Fatalf("AppendBinary = %x, %v", appended, err)
			}
			if again, err := DecodeMethod(appended[6:]); err != nil || !deepEqual(again, c.m) {
				t.Fatalf("AppendBinary output decodes to %+v, %v", again, err)
			}
			// Every strict prefix of the payload is a truncated method.
			for n := range len(payload) {
				_, err := DecodeMethod(payload[:n])
				e := wantCode(t, err, FrameError)
				if n >= 4 && (e.ClassID != c.m.ClassID() || e.MethodID != c.m.MethodID()) {
					t.Fatalf("error for %d bytes names %d/%d", n, e.ClassID, e.MethodID)
				}
			}
			// A trailing byte is rejected too.
			_, err = DecodeMethod(append(payload, 0))
			wantCode(t, err, FrameError)
		})
	}
}

// TestMethodWire pins the exact bytes of some methods, worked out by hand
// from the specification, so that field order and bit packing are checked
// independently of the decoder.
func TestMethodWire(t *testing.T) {
	cases := []struct {
		m   Method
		hex string
	}{
		{&BasicPublish{Exchange: "ex", RoutingKey: "rk", Mandatory: true},
			"003c0028" + "0000" + "02" + "6578" + "02" + "726b" + "01"},
		{&BasicPublish{Immediate: true},
			"003c0028" + "0000" + "00" + "00" + "02"},
		{&BasicDeliver{ConsumerTag: "c", DeliveryTag: 0x0102030405060708, Redelivered: true, Exchange: "", RoutingKey: "q"},
			"003c003c" + "0163" + "0102030405060708" + "01" + "00" + "0171"},
		{&BasicAck{DeliveryTag: 9, Multiple: true},
			"003c0050" + "0000000000000009" + "01"},
		{&BasicNack{DeliveryTag: 5, Requeue: true},
			"003c0078" + "0000000000000005" + "02"},
		{&BasicNack{DeliveryTag: 5, Multiple: true, Requeue: true},
			"003c0078" + "0000000000000005" + "03"},
		{&QueueDeclare{Queue: "q", Durable: true, NoWait: true},
			"0032000a" + "0000" + "0171" + "12" + "00000000"},
		{&ExchangeDeclare{Exchange: "x", Type: "topic", Passive: true, AutoDelete: true, Internal: true},
			"0028000a" + "0000" + "0178" + "05746f706963" + "0d" + "00000000"},
		{&BasicConsume{Queue: "q", ConsumerTag: "t", NoLocal: true, Exclusive: true},
			"003c0014" + "0000" + "0171" + "0174" + "05" + "00000000"},
		{&ConnectionClose{ReplyCode: 320, ReplyText: "bye", FailedClassID: 60, FailedMethodID: 40},
			"000a0032" + "0140" + "03627965" + "003c" + "0028"},
		{&ConnectionOpen{VirtualHost: "/"},
			"000a0028" + "012f" + "00" + "00"},
		{&ConnectionBlocked{Reason: "low"},
			"000a003c" + "036c6f77"},
		{&ConnectionUpdateSecret{NewSecret: "s3", Reason: "r"},
			"000a0046" + "000000027333" + "0172"},
		{&ConnectionTune{ChannelMax: 2047, FrameMax: 131072, Heartbeat: 60},
			"000a001e" + "07ff" + "00020000" + "003c"},
		{&ChannelOpenOk{},
			"0014000b" + "00000000"},
		{&BasicGetEmpty{},
			"003c0048" + "00"},
		{&ConfirmSelect{NoWait: true},
			"0055000a" + "01"},
		{&BasicQos{PrefetchSize: 0, PrefetchCount: 10, Global: true},
			"003c000a" + "00000000" + "000a" + "01"},
		{&TxCommit{}, "005a0014"},
	}
	for _, c := range cases {
		t.Run(c.m.Name(), func(t *testing.T) {
			got, err := c.m.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(got) != c.hex {
				t.Fatalf("encoded %x, want %s", got, c.hex)
			}
			want, _ := hex.DecodeString(c.hex)
			dec, err := DecodeMethod(want)
			if err != nil {
				t.Fatal(err)
			}
			if !deepEqual(dec, c.m) {
				t.Fatalf("decoded %+v, want %+v", dec, c.m)
			}
		})
	}
}

func TestDecodeMethodErrors(t *testing.T) {
	t.Run("short", func(t *testing.T) {
		for n := range 4 {
			_, err := DecodeMethod(make([]byte, n))
			wantCode(t, err, FrameError)
		}
	})
	t.Run("unknown class", func(t *testing.T) {
		_, err := DecodeMethod([]byte{0, 99, 0, 10})
		e := wantCode(t, err, NotImplemented)
		if e.ClassID != 99 || e.MethodID != 10 || !e.Hard() {
			t.Fatalf("got %+v", e)
		}
	})
	t.Run("unknown method", func(t *testing.T) {
		_, err := DecodeMethod([]byte{0, 60, 0, 99})
		e := wantCode(t, err, CommandInvalid)
		if e.ClassID != 60 || e.MethodID != 99 || !e.Hard() {
			t.Fatalf("got %+v", e)
		}
	})
	t.Run("bad table value", func(t *testing.T) {
		// queue.declare whose arguments hold {"k": type 'Z'}.
		p, _ := hex.DecodeString("0032000a" + "0000" + "0171" + "00" + "00000004" + "016b" + "5a00")
		_, err := DecodeMethod(p)
		e := wantCode(t, err, SyntaxError)
		if e.ClassID != ClassQueue || e.MethodID != MethodQueueDeclare {
			t.Fatalf("got %+v", e)
		}
	})
	t.Run("huge claimed length", func(t *testing.T) {
		// connection.start-ok whose client-properties claim 4 GiB.
		p, _ := hex.DecodeString("000a000b" + "ffffffff" + "00")
		_, err := DecodeMethod(p)
		wantCode(t, err, FrameError)
	})
	t.Run("wrong ids for UnmarshalBinary", func(t *testing.T) {
		p, _ := (&BasicAck{DeliveryTag: 1}).MarshalBinary()
		var m BasicNack
		e := wantCode(t, m.UnmarshalBinary(p), CommandInvalid)
		if e.ClassID != ClassBasic || e.MethodID != MethodBasicNack {
			t.Fatalf("got %+v", e)
		}
		wantCode(t, m.UnmarshalBinary(p[:3]), FrameError)
	})
}

func TestEncodeErrors(t *testing.T) {
	long := strings.Repeat("x", 256)
	_, err := (&BasicPublish{RoutingKey: long}).MarshalBinary()
	e := wantCode(t, err, SyntaxError)
	if e.ClassID != ClassBasic || e.MethodID != MethodBasicPublish || !strings.Contains(e.Text, "routing-key") {
		t.Fatalf("got %+v", e)
	}
	if _, err := (&BasicPublish{RoutingKey: long[:255]}).MarshalBinary(); err != nil {
		t.Fatalf("255-byte shortstr: %v", err)
	}
	_, err = (&QueueDeclare{Arguments: Table{"bad": struct{}{}}}).MarshalBinary()
	e = wantCode(t, err, SyntaxError)
	if e.ClassID != ClassQueue || e.MethodID != MethodQueueDeclare {
		t.Fatalf("got %+v", e)
	}
}

func TestErrorText(t *testing.T) {
	e := &Error{Code: NotFound, Text: "no queue 'q'", ClassID: ClassQueue, MethodID: MethodQueueDeclare}
	if got, want := e.Error(), "amqp091: NOT_FOUND (404) in queue.declare: no queue 'q'"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got, want := e.ReplyText(), "NOT_FOUND - no queue 'q'"; got != want {
		t.Errorf("ReplyText() = %q, want %q", got, want)
	}
	long := &Error{Code: FrameError, Text: strings.Repeat("é", 200)}
	rt := long.ReplyText()
	if len(rt) > 255 || !strings.HasPrefix(rt, "FRAME_ERROR - é") || strings.ToValidUTF8(rt, "?") != rt {
		t.Errorf("ReplyText() = %q (%d bytes)", rt, len(rt))
	}
	if (&Error{Code: 777}).ReplyText() != "ERROR_777" {
		t.Error("unknown code text")
	}
	var target *Error
	if !errors.As(fmt.Errorf("wrapped: %w", e), &target) || target != e {
		t.Error("errors.As does not find *Error")
	}
}

func TestMethodIDs(t *testing.T) {
	c, m, err := MethodIDs([]byte{0, 60, 0, 40, 1, 2})
	if err != nil || c != ClassBasic || m != MethodBasicPublish {
		t.Fatalf("got %d %d %v", c, m, err)
	}
	_, _, err = MethodIDs([]byte{0, 60})
	wantCode(t, err, FrameError)
}

// TestDecodedStringsOwnMemory checks that decoded strings do not alias the
// payload, which a frame reader reuses.
func TestDecodedStringsOwnMemory(t *testing.T) {
	payload, _ := (&BasicPublish{Exchange: "amq.topic", RoutingKey: "a.b.c"}).MarshalBinary()
	var m BasicPublish
	if err := m.UnmarshalBinary(payload); err != nil {
		t.Fatal(err)
	}
	for i := range payload {
		payload[i] = 'Z'
	}
	if m.Exchange != "amq.topic" || m.RoutingKey != "a.b.c" {
		t.Fatalf("strings changed with the payload: %+v", m)
	}
}
