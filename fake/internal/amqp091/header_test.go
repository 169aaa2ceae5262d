package amqp091

import (
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

func fullProperties() Properties {
	return Properties{
		ContentType:     "application/json",
		ContentEncoding: "gzip",
		Headers:         sampleTable(),
		DeliveryMode:    2,
		Priority:        7,
		CorrelationID:   "corr-1",
		ReplyTo:         "amq.rabbitmq.reply-to",
		Expiration:      "60000",
		MessageID:       "msg-1",
		Timestamp:       time.Unix(1700000123, 0).UTC(),
		Type:            "event",
		UserID:          "guest",
		AppID:           "switchyard",
		ClusterID:       "c1",
	}
}

func TestContentHeaderRoundTrip(t *testing.T) {
	full := fullProperties()
	full.Flags = propertyMask
	cases := map[string]ContentHeader{
		"empty":       {ClassID: ClassBasic},
		"body only":   {ClassID: ClassBasic, BodySize: 1 << 40},
		"all":         {ClassID: ClassBasic, BodySize: 12345, Properties: full},
		"zero values": {ClassID: ClassBasic, Properties: Properties{Flags: FlagPriority | FlagHeaders | FlagContentType | FlagTimestamp}},
		"weight":      {ClassID: ClassBasic, Weight: 3},
	}
	for _, only := range []uint16{FlagContentType, FlagHeaders, FlagDeliveryMode, FlagTimestamp, FlagClusterID} {
		p := fullProperties()
		q := Properties{Flags: only}
		switch only {
		case FlagContentType:
			q.ContentType = p.ContentType
		case FlagHeaders:
			q.Headers = p.Headers
		case FlagDeliveryMode:
			q.DeliveryMode = p.DeliveryMode
		case FlagTimestamp:
			q.Timestamp = p.Timestamp
		case FlagClusterID:
			q.ClusterID = p.ClusterID
		}
		cases["only "+hex.EncodeToString([]byte{byte(only >> 8), byte(only)})] = ContentHeader{ClassID: ClassBasic, Properties: q}
	}
	for name, h := range cases {
		t.Run(name, func(t *testing.T) {
			wire, err := h.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var got ContentHeader
			got.Properties.AppID = "stale value that must be cleared"
			if err := got.UnmarshalBinary(wire); err != nil {
				t.Fatal(err)
			}
			if !deepEqual(got, h) {
				t.Fatalf("got %+v\nwant %+v", got, h)
			}
			for n := range len(wire) {
				var short ContentHeader
				wantCode(t, short.UnmarshalBinary(wire[:n]), FrameError)
			}
			var long ContentHeader
			wantCode(t, long.UnmarshalBinary(append(wire, 0)), FrameError)
		})
	}
}

func TestContentHeaderFlagsFromValues(t *testing.T) {
	// Properties built without Flags get their flags from non-zero values.
	h := ContentHeader{ClassID: ClassBasic, BodySize: 3, Properties: fullProperties()}
	wire, err := h.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got ContentHeader
	if err := got.UnmarshalBinary(wire); err != nil {
		t.Fatal(err)
	}
	if got.Properties.Flags != propertyMask {
		t.Fatalf("flags %#x, want %#x", got.Properties.Flags, propertyMask)
	}
	got.Properties.Flags = 0
	if !deepEqual(got, h) {
		t.Fatalf("got %+v\nwant %+v", got, h)
	}
}

func TestContentHeaderWire(t *testing.T) {
	h := ContentHeader{ClassID: ClassBasic, BodySize: 5, Properties: Properties{
		ContentType:  "t",
		DeliveryMode: 2,
		Timestamp:    time.Unix(0x10, 0),
		AppID:        "a",
	}}
	got, err := h.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := "003c" + "0000" + "0000000000000005" +
		"9048" + // content-type, delivery-mode, timestamp, app-id
		"0174" + "02" + "0000000000000010" + "0161"
	if hex.EncodeToString(got) != want {
		t.Fatalf("encoded %x, want %s", got, want)
	}
}

func TestContentHeaderErrors(t *testing.T) {
	for name, flags := range map[string]string{
		"continuation flag": "0001",
		"fifteenth flag":    "0002",
	} {
		wire, _ := hex.DecodeString("003c" + "0000" + "0000000000000000" + flags)
		var h ContentHeader
		if err := h.UnmarshalBinary(wire); err == nil {
			t.Errorf("%s: no error", name)
		} else {
			wantCode(t, err, SyntaxError)
		}
	}
	long := ContentHeader{ClassID: ClassBasic, Properties: Properties{MessageID: strings.Repeat("m", 256)}}
	_, err := long.MarshalBinary()
	wantCode(t, err, SyntaxError)
	bad := ContentHeader{ClassID: ClassBasic, Properties: Properties{Headers: Table{"x": struct{}{}}}}
	_, err = bad.MarshalBinary()
	wantCode(t, err, SyntaxError)
	// A headers table claiming more than there is.
	wire, _ := hex.DecodeString("003c" + "0000" + "0000000000000000" + "2000" + "7fffffff")
	var h ContentHeader
	wantCode(t, h.UnmarshalBinary(wire), FrameError)
}
