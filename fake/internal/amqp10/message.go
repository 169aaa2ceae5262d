package amqp10

import (
	"fmt"
	"math"
	"time"
)

// Header is the header message section (0x70): transport headers.
type Header struct {
	// Durable asks intermediaries to keep the message durably.
	Durable bool
	// Priority is the relative priority; nil when absent, meaning 4.
	Priority *uint8
	// TTL is the time to live in milliseconds; 0 means absent.
	TTL uint32
	// FirstAcquirer reports that no one acquired the message before.
	FirstAcquirer bool
	// DeliveryCount is the number of prior unsuccessful deliveries.
	DeliveryCount uint32
}

// Marshal appends the encoded header section to b.
func (h *Header) Marshal(b []byte) ([]byte, error) {
	w := beginComposite(b, DescriptorHeader)
	w.flag(h.Durable)
	w.ptrUint8(h.Priority)
	w.optUint32(h.TTL)
	w.flag(h.FirstAcquirer)
	w.optUint32(h.DeliveryCount)
	return w.finish()
}

// Unmarshal decodes a header section that makes up all of data.
func (h *Header) Unmarshal(data []byte) error {
	d := newDecoder(data)
	if err := h.decode(&d); err != nil {
		return err
	}
	return d.end()
}

func (h *Header) decode(d *decoder) error {
	*h = Header{}
	f := d.composite(DescriptorHeader, "header")
	h.Durable, _ = f.bool("durable")
	if v, ok := f.uint8("priority"); ok {
		h.Priority = &v
	}
	h.TTL, _ = f.uint32("ttl")
	h.FirstAcquirer, _ = f.bool("first-acquirer")
	h.DeliveryCount, _ = f.uint32("delivery-count")
	return f.finish(d)
}

// Properties is the properties message section (0x73): immutable
// properties of the message. Empty strings and symbols, nil slices and IDs,
// and zero times mean the field is absent.
type Properties struct {
	// MessageID identifies the message: nil, uint64, UUID, []byte or string.
	MessageID any
	// UserID is the identity of the user producing the message.
	UserID []byte
	// To is the address of the destination node.
	To string
	// Subject is an application-specific subject.
	Subject string
	// ReplyTo is the address to send replies to.
	ReplyTo string
	// CorrelationID relates the message to another: nil, uint64, UUID,
	// []byte or string.
	CorrelationID any
	// ContentType is the MIME type of the body (data sections).
	ContentType Symbol
	// ContentEncoding is the content encoding of the body.
	ContentEncoding Symbol
	// AbsoluteExpiryTime is when the message expires.
	AbsoluteExpiryTime time.Time
	// CreationTime is when the message was created.
	CreationTime time.Time
	// GroupID is the group the message belongs to.
	GroupID string
	// GroupSequence is the position in the group; nil when absent.
	GroupSequence *uint32
	// ReplyToGroupID is the group replies should belong to.
	ReplyToGroupID string
}

// Marshal appends the encoded properties section to b.
func (p *Properties) Marshal(b []byte) ([]byte, error) {
	w := beginComposite(b, DescriptorProperties)
	w.messageID(p.MessageID, "message-id")
	w.optBinary(p.UserID)
	w.optString(p.To)
	w.optString(p.Subject)
	w.optString(p.ReplyTo)
	w.messageID(p.CorrelationID, "correlation-id")
	w.optSymbol(p.ContentType)
	w.optSymbol(p.ContentEncoding)
	w.timestamp(p.AbsoluteExpiryTime)
	w.timestamp(p.CreationTime)
	w.optString(p.GroupID)
	w.ptrUint32(p.GroupSequence)
	w.optString(p.ReplyToGroupID)
	return w.finish()
}

// messageID writes a message-id or correlation-id field.
func (w *compositeWriter) messageID(v any, field string) {
	switch v.(type) {
	case nil, uint64, UUID, []byte, string:
		w.value(v)
	default:
		if w.err == nil {
			w.err = fmt.Errorf("amqp10: %s of Go type %T is not ulong, uuid, binary or string", field, v)
		}
	}
}

// Unmarshal decodes a properties section that makes up all of data.
func (p *Properties) Unmarshal(data []byte) error {
	d := newDecoder(data)
	if err := p.decode(&d); err != nil {
		return err
	}
	return d.end()
}

func (p *Properties) decode(d *decoder) error {
	*p = Properties{}
	f := d.composite(DescriptorProperties, "properties")
	p.MessageID = f.messageID("message-id")
	p.UserID, _ = f.binary("user-id")
	p.To = f.address("to")
	p.Subject, _ = f.string("subject")
	p.ReplyTo = f.address("reply-to")
	p.CorrelationID = f.messageID("correlation-id")
	p.ContentType, _ = f.symbol("content-type")
	p.ContentEncoding, _ = f.symbol("content-encoding")
	p.AbsoluteExpiryTime = f.timestamp("absolute-expiry-time")
	p.CreationTime = f.timestamp("creation-time")
	p.GroupID, _ = f.string("group-id")
	if v, ok := f.uint32("group-sequence"); ok {
		p.GroupSequence = &v
	}
	p.ReplyToGroupID, _ = f.string("reply-to-group-id")
	return f.finish(d)
}

// readMessageID reads a message-id: ulong, uuid, binary or string.
func (d *decoder) readMessageID() (any, error) {
	if d.off < len(d.b) {
		switch d.b[d.off] {
		case codeUlong, codeSmallUlong, codeUlong0:
			return d.readUint64()
		case codeUUID:
			return d.readUUID()
		case codeVbin8, codeVbin32:
			return d.readBinary()
		case codeStr8, codeStr32:
			return d.readString()
		}
		return nil, typeError(d.b[d.off], "message-id (ulong, uuid, binary or string)")
	}
	return nil, errTruncated()
}

// Message is a whole AMQP message: the sections of a delivery's payload.
// Absent sections are nil. The body is either one or more Data sections,
// one or more Sequence sections, or one amqp-value section (Value, with
// HasValue set); a message with none of them has no body. Decoded Data
// sections and binary values alias the input.
type Message struct {
	// Header is the header section.
	Header *Header
	// DeliveryAnnotations are annotations for the next hop only.
	DeliveryAnnotations Map
	// MessageAnnotations are annotations for the intermediaries along the path.
	MessageAnnotations Map
	// Properties is the properties section.
	Properties *Properties
	// ApplicationProperties are the application's own properties.
	ApplicationProperties Map
	// Data holds the payloads of the data body sections.
	Data [][]byte
	// Sequence holds the lists of the amqp-sequence body sections.
	Sequence [][]any
	// Value is the content of the amqp-value body section.
	Value any
	// HasValue reports an amqp-value body section; Marshal also writes one
	// when Value is non-nil. It lets a message carry an AMQP null as value.
	HasValue bool
	// Footer holds transport footers, such as message hashes.
	Footer Map
}

// Marshal appends the encoded sections of m to b, ready to be a transfer
// payload.
func (m *Message) Marshal(b []byte) ([]byte, error) {
	hasValue := m.HasValue || m.Value != nil
	kinds := 0
	for _, set := range []bool{len(m.Data) > 0, len(m.Sequence) > 0, hasValue} {
		if set {
			kinds++
		}
	}
	if kinds > 1 {
		return b, fmt.Errorf("amqp10: a message body is either data, amqp-sequence or amqp-value sections, not a mix")
	}
	var err error
	if m.Header != nil {
		if b, err = m.Header.Marshal(b); err != nil {
			return b, err
		}
	}
	if b, err = appendMapSection(b, DescriptorDeliveryAnnotations, m.DeliveryAnnotations); err != nil {
		return b, err
	}
	if b, err = appendMapSection(b, DescriptorMessageAnnotations, m.MessageAnnotations); err != nil {
		return b, err
	}
	if m.Properties != nil {
		if b, err = m.Properties.Marshal(b); err != nil {
			return b, err
		}
	}
	if b, err = appendMapSection(b, DescriptorApplicationProperties, m.ApplicationProperties); err != nil {
		return b, err
	}
	for _, data := range m.Data {
		if uint64(len(data)) > math.MaxUint32 {
			return b, errTooLarge("data section")
		}
		b = append(b, codeDescribed, codeSmallUlong, byte(DescriptorData))
		b = AppendBinary(b, data)
	}
	for _, seq := range m.Sequence {
		b = append(b, codeDescribed, codeSmallUlong, byte(DescriptorAMQPSequence))
		if seq == nil {
			seq = []any{}
		}
		if b, err = appendValue(b, seq, 0); err != nil {
			return b, err
		}
	}
	if hasValue {
		b = append(b, codeDescribed, codeSmallUlong, byte(DescriptorAMQPValue))
		if b, err = appendValue(b, m.Value, 0); err != nil {
			return b, err
		}
	}
	return appendMapSection(b, DescriptorFooter, m.Footer)
}

func appendMapSection(b []byte, code uint64, m Map) ([]byte, error) {
	if m == nil {
		return b, nil
	}
	b = append(b, codeDescribed, codeSmallUlong, byte(code))
	return appendMap(b, m, 0)
}

// sectionRank orders the sections of a message; body sections share a rank.
func sectionRank(code uint64) int {
	switch code {
	case DescriptorHeader:
		return 1
	case DescriptorDeliveryAnnotations:
		return 2
	case DescriptorMessageAnnotations:
		return 3
	case DescriptorProperties:
		return 4
	case DescriptorApplicationProperties:
		return 5
	case DescriptorData, DescriptorAMQPSequence, DescriptorAMQPValue:
		return 6
	case DescriptorFooter:
		return 7
	}
	return 0
}

// Unmarshal decodes a message from the concatenated sections in data. Each
// section may appear at most once and in spec order, except that the body
// may consist of several data or several amqp-sequence sections.
func (m *Message) Unmarshal(data []byte) error {
	*m = Message{}
	d := newDecoder(data)
	rank := 0
	var bodyKind uint64
	for d.off < len(d.b) {
		start := d.off
		code, err := d.readDescriptorCode()
		if err != nil {
			return wrapDecodeError(err, "message section")
		}
		r := sectionRank(code)
		if r == 0 {
			return decodeErrorf("message: descriptor 0x%x is not a message section", code)
		}
		if r < rank || (r == rank && (r != 6 || code != bodyKind || code == DescriptorAMQPValue)) {
			return decodeErrorf("message: section %s out of order or repeated", DescriptorName(code))
		}
		rank = r
		if r == 6 {
			bodyKind = code
		}
		switch code {
		case DescriptorHeader:
			d.off = start
			m.Header = new(Header)
			err = m.Header.decode(&d)
		case DescriptorProperties:
			d.off = start
			m.Properties = new(Properties)
			err = m.Properties.decode(&d)
		case DescriptorDeliveryAnnotations:
			m.DeliveryAnnotations, err = d.readSectionMap()
		case DescriptorMessageAnnotations:
			m.MessageAnnotations, err = d.readSectionMap()
		case DescriptorApplicationProperties:
			m.ApplicationProperties, err = d.readSectionMap()
		case DescriptorFooter:
			m.Footer, err = d.readSectionMap()
		case DescriptorData:
			var v []byte
			if v, err = d.readBinary(); err == nil {
				m.Data = append(m.Data, v)
			}
		case DescriptorAMQPSequence:
			var v []any
			if v, err = d.readList(); err == nil {
				m.Sequence = append(m.Sequence, v)
			}
		case DescriptorAMQPValue:
			m.Value, err = d.readValue()
			m.HasValue = true
		}
		if err != nil {
			return wrapDecodeError(err, "message section", DescriptorName(code).String())
		}
	}
	return nil
}

// readSectionMap reads the map of an annotations, application-properties or
// footer section; a null counts as an empty map.
func (d *decoder) readSectionMap() (Map, error) {
	if d.peekNull() {
		d.off++
		return Map{}, nil
	}
	return d.readMap()
}
