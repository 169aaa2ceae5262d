package broker

import (
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"time"
	"weak"

	"github.com/switchyard-dev/switchyard/fake/internal/amqp091"
	"github.com/switchyard-dev/switchyard/fake/internal/amqp10"
)

// Headers the AMQP 1.0 listener adds to messages it receives, so that
// AMQP 0-9-1 consumers see what the AMQP 1.0 properties said, and that
// hold what a 0-9-1 message cannot express.
const (
	// a1HeaderBody says how the 0-9-1 body holds an AMQP 1.0 body that is
	// not a single data section: "amqp-value" for an amqp-value string
	// (the body is its UTF-8 text), "sections" for anything else (the body
	// is the encoded body sections).
	a1HeaderBody = "x-amqp-1.0-body"
	// a1HeaderSubject is the AMQP 1.0 subject property.
	a1HeaderSubject = "x-amqp-1.0-subject"
	// a1HeaderTo is the AMQP 1.0 to property.
	a1HeaderTo = "x-amqp-1.0-to"
	// a1HeaderDeliveryCount is the number of failed deliveries, as
	// RabbitMQ's quorum queues name it.
	a1HeaderDeliveryCount = "x-delivery-count"
)

// rawMessages remembers the AMQP 1.0 encoding of the messages the
// listener received, so AMQP 1.0 consumers get them byte for byte. It
// holds the messages weakly: an entry goes when its message is collected.
type rawMessages struct {
	mu sync.Mutex
	m  map[weak.Pointer[message]][]byte
}

func (r *rawMessages) put(msg *message, raw []byte) {
	k := weak.Make(msg)
	r.mu.Lock()
	if r.m == nil {
		r.m = map[weak.Pointer[message]][]byte{}
	}
	r.m[k] = raw
	r.mu.Unlock()
	runtime.AddCleanup(msg, r.forget, k)
}

func (r *rawMessages) forget(k weak.Pointer[message]) {
	r.mu.Lock()
	delete(r.m, k)
	r.mu.Unlock()
}

func (r *rawMessages) get(msg *message) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	raw, ok := r.m[weak.Make(msg)]
	return raw, ok
}

// a1ID formats an AMQP 1.0 message-id or correlation-id as a 0-9-1
// short string.
func a1ID(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []byte:
		return string(v)
	case amqp10.UUID:
		return fmt.Sprintf("%x-%x-%x-%x-%x", v[0:4], v[4:6], v[6:8], v[8:10], v[10:16])
	}
	return fmt.Sprint(v)
}

// a1ToTable converts an AMQP 1.0 simple value to a 0-9-1 field value; ok
// is false for values a field table cannot hold.
func a1ToTable(v any) (any, bool) {
	switch v := v.(type) {
	case nil, bool, int8, int16, int32, int64, uint8, uint16, uint32, float32, float64, string, []byte, time.Time:
		return v, true
	case uint64:
		if v <= 1<<63-1 {
			return int64(v), true
		}
		return strconv.FormatUint(v, 10), true
	case amqp10.Symbol:
		return string(v), true
	case amqp10.Char:
		return string(rune(v)), true
	case amqp10.UUID:
		return a1ID(v), true
	}
	return nil, false
}

// a1FromTable converts a 0-9-1 field value to an AMQP 1.0 simple value;
// ok is false for tables, arrays and decimals, which application
// properties cannot hold.
func a1FromTable(v any) (any, bool) {
	switch v := v.(type) {
	case nil, bool, int8, int16, int32, int64, uint8, uint16, uint32, float32, float64, string, []byte, time.Time:
		return v, true
	case int:
		return int64(v), true
	}
	return nil, false
}

// a1Decoded is an AMQP 1.0 message turned into 0-9-1 terms.
type a1Decoded struct {
	props *amqp091.Properties
	body  []byte
	ttl   int64 // ms, -1 for none
	to    string
}

// decodeA1Message converts an encoded AMQP 1.0 message. The TTL comes from
// the header; absolute-expiry-time is not used, as oslo's drivers fill it
// from a monotonic clock.
func decodeA1Message(payload []byte) (a1Decoded, error) {
	var m amqp10.Message
	if err := m.Unmarshal(payload); err != nil {
		return a1Decoded{}, err
	}
	d := a1Decoded{props: &amqp091.Properties{}, ttl: -1}
	p := d.props
	headers := amqp091.Table{}
	if h := m.Header; h != nil {
		p.DeliveryMode = 1
		if h.Durable {
			p.DeliveryMode = 2
		}
		if h.Priority != nil {
			p.Priority = min(*h.Priority, 9)
			p.Flags |= amqp091.FlagPriority
		}
		if h.TTL > 0 {
			d.ttl = int64(h.TTL)
			p.Expiration = strconv.FormatUint(uint64(h.TTL), 10)
		}
		if h.DeliveryCount > 0 {
			headers[a1HeaderDeliveryCount] = int64(h.DeliveryCount)
		}
	}
	if pr := m.Properties; pr != nil {
		p.MessageID = truncShort(a1ID(pr.MessageID))
		p.CorrelationID = truncShort(a1ID(pr.CorrelationID))
		p.ReplyTo = truncShort(pr.ReplyTo)
		p.ContentType = truncShort(string(pr.ContentType))
		p.ContentEncoding = truncShort(string(pr.ContentEncoding))
		if !pr.CreationTime.IsZero() {
			p.Timestamp = pr.CreationTime.Truncate(time.Second)
			p.Flags |= amqp091.FlagTimestamp
		}
		if pr.Subject != "" {
			headers[a1HeaderSubject] = pr.Subject
		}
		if pr.To != "" {
			headers[a1HeaderTo] = pr.To
			d.to = pr.To
		}
	}
	for _, e := range m.ApplicationProperties {
		k, ok := e.Key.(string)
		if !ok {
			continue
		}
		if v, ok := a1ToTable(e.Value); ok {
			headers[k] = v
		}
	}
	switch {
	case len(m.Data) == 1 && len(m.Sequence) == 0 && !m.HasValue && m.Value == nil:
		d.body = m.Data[0]
	case len(m.Data) == 0 && len(m.Sequence) == 0 && (m.HasValue || m.Value != nil):
		if s, ok := m.Value.(string); ok {
			d.body = []byte(s)
			headers[a1HeaderBody] = "amqp-value"
			break
		}
		fallthrough
	default:
		body := amqp10.Message{Data: m.Data, Sequence: m.Sequence, Value: m.Value, HasValue: m.HasValue}
		b, err := body.Marshal(nil)
		if err != nil {
			return a1Decoded{}, err
		}
		d.body = b
		headers[a1HeaderBody] = "sections"
	}
	if d.body == nil {
		d.body = []byte{}
	}
	if len(headers) > 0 {
		p.Headers = headers
	}
	return d, nil
}

// truncShort cuts s to the 255 bytes of a 0-9-1 short string.
func truncShort(s string) string {
	if len(s) > 255 {
		return s[:255]
	}
	return s
}

// encodeA1Message returns the AMQP 1.0 encoding of msg for a delivery:
// the bytes it arrived with when it came over AMQP 1.0 (with
// first-acquirer cleared on a redelivery), else a message built from its
// 0-9-1 properties and body.
func (l *amqp1Listener) encodeA1Message(msg *message, redelivered bool) ([]byte, error) {
	if raw, ok := l.raw.get(msg); ok {
		if !redelivered {
			return raw, nil
		}
		var m amqp10.Message
		if err := m.Unmarshal(raw); err != nil {
			return nil, err
		}
		if m.Header == nil {
			m.Header = &amqp10.Header{}
		}
		m.Header.FirstAcquirer = false
		return m.Marshal(nil)
	}
	p := msg.props
	var m amqp10.Message
	h := &amqp10.Header{Durable: p.DeliveryMode == 2, FirstAcquirer: !redelivered}
	if p.Flags&amqp091.FlagPriority != 0 || p.Priority != 0 {
		pr := p.Priority
		h.Priority = &pr
	}
	if msg.ttl > 0 && msg.ttl <= 1<<32-1 {
		h.TTL = uint32(msg.ttl)
	}
	if n, ok := intArg(p.Headers[a1HeaderDeliveryCount]); ok && n > 0 && n <= 1<<32-1 {
		h.DeliveryCount = uint32(n)
	}
	m.Header = h
	props := &amqp10.Properties{
		ReplyTo:         p.ReplyTo,
		ContentType:     amqp10.Symbol(p.ContentType),
		ContentEncoding: amqp10.Symbol(p.ContentEncoding),
		CreationTime:    p.Timestamp,
	}
	if p.MessageID != "" {
		props.MessageID = p.MessageID
	}
	if p.CorrelationID != "" {
		props.CorrelationID = p.CorrelationID
	}
	props.Subject, _ = p.Headers[a1HeaderSubject].(string)
	props.To, _ = p.Headers[a1HeaderTo].(string)
	if props.Subject == "" && msg.routingKey != "" {
		props.Subject = msg.routingKey
	}
	m.Properties = props
	for k, v := range p.Headers {
		switch k {
		case a1HeaderBody, a1HeaderSubject, a1HeaderTo, a1HeaderDeliveryCount:
			continue
		}
		if av, ok := a1FromTable(v); ok {
			m.ApplicationProperties.Set(k, av)
		}
	}
	kind, _ := p.Headers[a1HeaderBody].(string)
	switch kind {
	case "amqp-value":
		m.Value, m.HasValue = string(msg.body), true
	case "sections":
		b, err := m.Marshal(nil)
		if err != nil {
			return nil, err
		}
		return append(b, msg.body...), nil
	default:
		m.Data = [][]byte{msg.body}
	}
	return m.Marshal(nil)
}

// withDeliveryFailed returns a copy of msg with its delivery-count one
// higher and annotations merged in, for the modified outcome.
func (l *amqp1Listener) withDeliveryFailed(msg *message, annotations amqp10.Map) *message {
	props := *msg.props
	headers := make(amqp091.Table, len(props.Headers)+1)
	for k, v := range props.Headers {
		headers[k] = v
	}
	n, _ := intArg(headers[a1HeaderDeliveryCount])
	headers[a1HeaderDeliveryCount] = n + 1
	props.Headers = headers
	props.Flags |= amqp091.FlagHeaders
	cp := *msg
	cp.props = &props
	nm := &cp
	if raw, ok := l.raw.get(msg); ok {
		var m amqp10.Message
		if err := m.Unmarshal(raw); err == nil {
			if m.Header == nil {
				m.Header = &amqp10.Header{}
			}
			m.Header.DeliveryCount++
			for _, e := range annotations {
				m.MessageAnnotations.Set(e.Key, e.Value)
			}
			if b, err := m.Marshal(nil); err == nil {
				l.raw.put(nm, b)
			}
		}
	}
	return nm
}
