package amqp091

import (
	"encoding/binary"
	"time"
)

// Property flag bits of the basic class, in wire order from the most
// significant bit. Bit 0 of a flag word means another flag word follows;
// bit 1 is unused by the 14 basic properties.
const (
	FlagContentType     uint16 = 1 << 15 // content-type
	FlagContentEncoding uint16 = 1 << 14 // content-encoding
	FlagHeaders         uint16 = 1 << 13 // headers
	FlagDeliveryMode    uint16 = 1 << 12 // delivery-mode
	FlagPriority        uint16 = 1 << 11 // priority
	FlagCorrelationID   uint16 = 1 << 10 // correlation-id
	FlagReplyTo         uint16 = 1 << 9  // reply-to
	FlagExpiration      uint16 = 1 << 8  // expiration
	FlagMessageID       uint16 = 1 << 7  // message-id
	FlagTimestamp       uint16 = 1 << 6  // timestamp
	FlagType            uint16 = 1 << 5  // type
	FlagUserID          uint16 = 1 << 4  // user-id
	FlagAppID           uint16 = 1 << 3  // app-id
	FlagClusterID       uint16 = 1 << 2  // cluster-id (reserved in 0-9-1)

	// propertyMask covers all 14 property bits.
	propertyMask uint16 = 0xfffc
)

// Properties are the 14 basic-class message properties carried by a
// content header.
//
// Flags records which properties were present on the wire when decoded.
// When encoding, a property is written if its flag is set or its value is
// not the zero value, so callers building properties by hand may leave
// Flags zero, while decoded properties re-encode exactly, including
// properties that were present with a zero value.
type Properties struct {
	Flags           uint16    // presence bits, Flag* constants
	ContentType     string    // MIME type of the body
	ContentEncoding string    // MIME content encoding of the body
	Headers         Table     // application headers
	DeliveryMode    uint8     // 1 transient, 2 persistent
	Priority        uint8     // message priority, 0 to 9
	CorrelationID   string    // application correlation id
	ReplyTo         string    // address to reply to
	Expiration      string    // per-message TTL in milliseconds, as text
	MessageID       string    // application message id
	Timestamp       time.Time // message timestamp, whole seconds
	Type            string    // message type name
	UserID          string    // creating user, checked by RabbitMQ
	AppID           string    // creating application
	ClusterID       string    // deprecated cluster id
}

// flags returns the property flags to encode: the recorded ones plus one
// for every property that is not zero.
func (p *Properties) flags() uint16 {
	f := p.Flags & propertyMask
	if p.ContentType != "" {
		f |= FlagContentType
	}
	if p.ContentEncoding != "" {
		f |= FlagContentEncoding
	}
	if len(p.Headers) != 0 {
		f |= FlagHeaders
	}
	if p.DeliveryMode != 0 {
		f |= FlagDeliveryMode
	}
	if p.Priority != 0 {
		f |= FlagPriority
	}
	if p.CorrelationID != "" {
		f |= FlagCorrelationID
	}
	if p.ReplyTo != "" {
		f |= FlagReplyTo
	}
	if p.Expiration != "" {
		f |= FlagExpiration
	}
	if p.MessageID != "" {
		f |= FlagMessageID
	}
	if !p.Timestamp.IsZero() {
		f |= FlagTimestamp
	}
	if p.Type != "" {
		f |= FlagType
	}
	if p.UserID != "" {
		f |= FlagUserID
	}
	if p.AppID != "" {
		f |= FlagAppID
	}
	if p.ClusterID != "" {
		f |= FlagClusterID
	}
	return f
}

// ContentHeader is the payload of a content header frame: the class of the
// method it belongs to, the body size and the message properties.
type ContentHeader struct {
	ClassID    uint16     // class of the content method, ClassBasic
	Weight     uint16     // unused, always zero
	BodySize   uint64     // total size of the body frames that follow
	Properties Properties // the 14 basic properties
}

// AppendBinary appends the content header frame payload to b. It fails
// only for a string property over 255 bytes or an unencodable header
// table.
func (h *ContentHeader) AppendBinary(b []byte) ([]byte, error) {
	return appendContentHeader(b, h.ClassID, h.Weight, h.BodySize, &h.Properties)
}

// MarshalBinary returns the content header frame payload.
func (h *ContentHeader) MarshalBinary() ([]byte, error) {
	return h.AppendBinary(make([]byte, 0, 64))
}

func appendContentHeader(b []byte, classID, weight uint16, bodySize uint64, p *Properties) ([]byte, error) {
	b = binary.BigEndian.AppendUint16(b, classID)
	b = binary.BigEndian.AppendUint16(b, weight)
	b = binary.BigEndian.AppendUint64(b, bodySize)
	f := p.flags()
	b = binary.BigEndian.AppendUint16(b, f)
	var err error
	if f&FlagContentType != 0 {
		if b, err = appendShortstr(b, p.ContentType, "content-type"); err != nil {
			return b, err
		}
	}
	if f&FlagContentEncoding != 0 {
		if b, err = appendShortstr(b, p.ContentEncoding, "content-encoding"); err != nil {
			return b, err
		}
	}
	if f&FlagHeaders != 0 {
		if b, err = appendTable(b, p.Headers, 1); err != nil {
			return b, err
		}
	}
	if f&FlagDeliveryMode != 0 {
		b = append(b, p.DeliveryMode)
	}
	if f&FlagPriority != 0 {
		b = append(b, p.Priority)
	}
	if f&FlagCorrelationID != 0 {
		if b, err = appendShortstr(b, p.CorrelationID, "correlation-id"); err != nil {
			return b, err
		}
	}
	if f&FlagReplyTo != 0 {
		if b, err = appendShortstr(b, p.ReplyTo, "reply-to"); err != nil {
			return b, err
		}
	}
	if f&FlagExpiration != 0 {
		if b, err = appendShortstr(b, p.Expiration, "expiration"); err != nil {
			return b, err
		}
	}
	if f&FlagMessageID != 0 {
		if b, err = appendShortstr(b, p.MessageID, "message-id"); err != nil {
			return b, err
		}
	}
	if f&FlagTimestamp != 0 {
		b = binary.BigEndian.AppendUint64(b, uint64(p.Timestamp.Unix()))
	}
	if f&FlagType != 0 {
		if b, err = appendShortstr(b, p.Type, "type"); err != nil {
			return b, err
		}
	}
	if f&FlagUserID != 0 {
		if b, err = appendShortstr(b, p.UserID, "user-id"); err != nil {
			return b, err
		}
	}
	if f&FlagAppID != 0 {
		if b, err = appendShortstr(b, p.AppID, "app-id"); err != nil {
			return b, err
		}
	}
	if f&FlagClusterID != 0 {
		if b, err = appendShortstr(b, p.ClusterID, "cluster-id"); err != nil {
			return b, err
		}
	}
	return b, nil
}

// UnmarshalBinary decodes a content header frame payload into h, replacing
// all of its fields. Truncated input or trailing bytes give a FrameError;
// property flags beyond the 14 basic properties give a SyntaxError.
func (h *ContentHeader) UnmarshalBinary(payload []byte) error {
	d := newDecoder(payload)
	h.ClassID = d.short()
	h.Weight = d.short()
	h.BodySize = d.longlong()
	f := d.short()
	if f&^propertyMask != 0 {
		// Bit 0 announces more flag words, bit 1 a 15th property; the
		// basic class has neither.
		d.fail(SyntaxError, "content header has property flags beyond the 14 basic properties")
	}
	p := &h.Properties
	*p = Properties{Flags: f & propertyMask}
	if f&FlagContentType != 0 {
		p.ContentType = d.shortstr()
	}
	if f&FlagContentEncoding != 0 {
		p.ContentEncoding = d.shortstr()
	}
	if f&FlagHeaders != 0 {
		p.Headers = d.table()
	}
	if f&FlagDeliveryMode != 0 {
		p.DeliveryMode = d.octet()
	}
	if f&FlagPriority != 0 {
		p.Priority = d.octet()
	}
	if f&FlagCorrelationID != 0 {
		p.CorrelationID = d.shortstr()
	}
	if f&FlagReplyTo != 0 {
		p.ReplyTo = d.shortstr()
	}
	if f&FlagExpiration != 0 {
		p.Expiration = d.shortstr()
	}
	if f&FlagMessageID != 0 {
		p.MessageID = d.shortstr()
	}
	if f&FlagTimestamp != 0 {
		p.Timestamp = d.timestamp()
	}
	if f&FlagType != 0 {
		p.Type = d.shortstr()
	}
	if f&FlagUserID != 0 {
		p.UserID = d.shortstr()
	}
	if f&FlagAppID != 0 {
		p.AppID = d.shortstr()
	}
	if f&FlagClusterID != 0 {
		p.ClusterID = d.shortstr()
	}
	return d.finish(0, 0)
}
