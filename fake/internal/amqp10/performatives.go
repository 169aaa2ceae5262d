package amqp10

// FrameBody is implemented by every performative (*Open … *Close) and every
// SASL frame body (*SASLMechanisms … *SASLOutcome).
type FrameBody interface {
	// Descriptor returns the numeric descriptor code of the body.
	Descriptor() uint64
	// Marshal appends the encoded body to b (for *Transfer, followed by
	// its payload).
	Marshal(b []byte) ([]byte, error)
	// Unmarshal decodes a body that makes up all of data (for *Transfer,
	// the bytes after the performative become its payload).
	Unmarshal(data []byte) error
}

// ParseAMQPBody decodes the body of an AMQP frame (type 0) into the
// performative its descriptor names. A transfer's payload aliases body.
func ParseAMQPBody(body []byte) (FrameBody, error) {
	code, err := PeekDescriptor(body)
	if err != nil {
		return nil, wrapDecodeError(err, "frame body")
	}
	var p FrameBody
	switch code {
	case DescriptorOpen:
		p = new(Open)
	case DescriptorBegin:
		p = new(Begin)
	case DescriptorAttach:
		p = new(Attach)
	case DescriptorFlow:
		p = new(Flow)
	case DescriptorTransfer:
		p = new(Transfer)
	case DescriptorDisposition:
		p = new(Disposition)
	case DescriptorDetach:
		p = new(Detach)
	case DescriptorEnd:
		p = new(End)
	case DescriptorClose:
		p = new(Close)
	default:
		return nil, decodeErrorf("frame body: descriptor 0x%x is not a performative", code)
	}
	if err := p.Unmarshal(body); err != nil {
		return nil, err
	}
	return p, nil
}

// Open is the open performative (0x10), negotiating connection parameters.
type Open struct {
	// ContainerID is the id of the source container; mandatory.
	ContainerID string
	// Hostname is the name of the target host; "" means absent.
	Hostname string
	// MaxFrameSize is the largest frame the sender accepts; 0 means absent,
	// in which case the limit is 4294967295.
	MaxFrameSize uint32
	// ChannelMax is the highest channel number the sender accepts; nil
	// means absent, in which case it is 65535.
	ChannelMax *uint16
	// IdleTimeout is the sender's idle timeout in milliseconds; 0 means
	// absent (no timeout).
	IdleTimeout uint32
	// OutgoingLocales lists the locales the sender may use.
	OutgoingLocales []Symbol
	// IncomingLocales lists the locales the sender accepts.
	IncomingLocales []Symbol
	// OfferedCapabilities lists the extensions the sender supports.
	OfferedCapabilities []Symbol
	// DesiredCapabilities lists the extensions the sender can use.
	DesiredCapabilities []Symbol
	// Properties are the connection properties.
	Properties Map
}

// Descriptor returns DescriptorOpen.
func (p *Open) Descriptor() uint64 { return DescriptorOpen }

// Marshal appends the encoded open to b.
func (p *Open) Marshal(b []byte) ([]byte, error) {
	w := beginComposite(b, DescriptorOpen)
	w.string(p.ContainerID)
	w.optString(p.Hostname)
	w.optUint32(p.MaxFrameSize)
	w.ptrUint16(p.ChannelMax)
	w.optUint32(p.IdleTimeout)
	w.symbols(p.OutgoingLocales)
	w.symbols(p.IncomingLocales)
	w.symbols(p.OfferedCapabilities)
	w.symbols(p.DesiredCapabilities)
	w.optMap(p.Properties)
	return w.finish()
}

// Unmarshal decodes an open that makes up all of data.
func (p *Open) Unmarshal(data []byte) error {
	d := newDecoder(data)
	if err := p.decode(&d); err != nil {
		return err
	}
	return d.end()
}

func (p *Open) decode(d *decoder) error {
	*p = Open{}
	f := d.composite(DescriptorOpen, "open")
	var ok bool
	p.ContainerID, ok = f.string("container-id")
	f.require(ok, "container-id")
	p.Hostname, _ = f.string("hostname")
	p.MaxFrameSize, _ = f.uint32("max-frame-size")
	if v, ok := f.uint16("channel-max"); ok {
		p.ChannelMax = &v
	}
	p.IdleTimeout, _ = f.uint32("idle-time-out")
	p.OutgoingLocales, _ = f.symbols("outgoing-locales")
	p.IncomingLocales, _ = f.symbols("incoming-locales")
	p.OfferedCapabilities, _ = f.symbols("offered-capabilities")
	p.DesiredCapabilities, _ = f.symbols("desired-capabilities")
	p.Properties = f.fieldsMap("properties")
	return f.finish(d)
}

// Begin is the begin performative (0x11), starting a session.
type Begin struct {
	// RemoteChannel is the peer's channel when answering a begin; nil when
	// initiating.
	RemoteChannel *uint16
	// NextOutgoingID is the transfer-id of the first transfer the sender
	// will send; mandatory.
	NextOutgoingID uint32
	// IncomingWindow is the sender's initial incoming window; mandatory.
	IncomingWindow uint32
	// OutgoingWindow is the sender's initial outgoing window; mandatory.
	OutgoingWindow uint32
	// HandleMax is the highest link handle the sender accepts; nil means
	// absent, in which case it is 4294967295.
	HandleMax *uint32
	// OfferedCapabilities lists the extensions the sender supports.
	OfferedCapabilities []Symbol
	// DesiredCapabilities lists the extensions the sender can use.
	DesiredCapabilities []Symbol
	// Properties are the session properties.
	Properties Map
}

// Descriptor returns DescriptorBegin.
func (p *Begin) Descriptor() uint64 { return DescriptorBegin }

// Marshal appends the encoded begin to b.
func (p *Begin) Marshal(b []byte) ([]byte, error) {
	w := beginComposite(b, DescriptorBegin)
	w.ptrUint16(p.RemoteChannel)
	w.uint32(p.NextOutgoingID)
	w.uint32(p.IncomingWindow)
	w.uint32(p.OutgoingWindow)
	w.ptrUint32(p.HandleMax)
	w.symbols(p.OfferedCapabilities)
	w.symbols(p.DesiredCapabilities)
	w.optMap(p.Properties)
	return w.finish()
}

// Unmarshal decodes a begin that makes up all of data.
func (p *Begin) Unmarshal(data []byte) error {
	d := newDecoder(data)
	if err := p.decode(&d); err != nil {
		return err
	}
	return d.end()
}

func (p *Begin) decode(d *decoder) error {
	*p = Begin{}
	f := d.composite(DescriptorBegin, "begin")
	if v, ok := f.uint16("remote-channel"); ok {
		p.RemoteChannel = &v
	}
	var ok bool
	p.NextOutgoingID, ok = f.uint32("next-outgoing-id")
	f.require(ok, "next-outgoing-id")
	p.IncomingWindow, ok = f.uint32("incoming-window")
	f.require(ok, "incoming-window")
	p.OutgoingWindow, ok = f.uint32("outgoing-window")
	f.require(ok, "outgoing-window")
	if v, ok := f.uint32("handle-max"); ok {
		p.HandleMax = &v
	}
	p.OfferedCapabilities, _ = f.symbols("offered-capabilities")
	p.DesiredCapabilities, _ = f.symbols("desired-capabilities")
	p.Properties = f.fieldsMap("properties")
	return f.finish(d)
}

// Attach is the attach performative (0x12), attaching a link to a session.
type Attach struct {
	// Name is the link name; mandatory.
	Name string
	// Handle is the sender's handle for the link; mandatory.
	Handle uint32
	// Role is the sender's role on the link; mandatory.
	Role Role
	// SenderSettleMode is nil when absent, meaning SenderSettleModeMixed.
	SenderSettleMode *SenderSettleMode
	// ReceiverSettleMode defaults to ReceiverSettleModeFirst, which is
	// encoded as absent.
	ReceiverSettleMode ReceiverSettleMode
	// Source is the source terminus; nil when absent.
	Source *Source
	// Target is the target terminus; nil when absent.
	Target *Target
	// Unsettled maps delivery tags (binary) to delivery states, for link
	// recovery; decoded states are left as Described values.
	Unsettled Map
	// IncompleteUnsettled reports that Unsettled is not the complete set.
	IncompleteUnsettled bool
	// InitialDeliveryCount is the sender's initial delivery-count; it is
	// always encoded when Role is RoleSender.
	InitialDeliveryCount uint32
	// MaxMessageSize is the largest message the sender accepts; 0 means
	// absent (no limit).
	MaxMessageSize uint64
	// OfferedCapabilities lists the extensions the sender supports.
	OfferedCapabilities []Symbol
	// DesiredCapabilities lists the extensions the sender can use.
	DesiredCapabilities []Symbol
	// Properties are the link properties.
	Properties Map
}

// Descriptor returns DescriptorAttach.
func (p *Attach) Descriptor() uint64 { return DescriptorAttach }

// Marshal appends the encoded attach to b.
func (p *Attach) Marshal(b []byte) ([]byte, error) {
	w := beginComposite(b, DescriptorAttach)
	w.string(p.Name)
	w.uint32(p.Handle)
	w.bool(bool(p.Role))
	if p.SenderSettleMode == nil {
		w.null()
	} else {
		w.uint8(uint8(*p.SenderSettleMode))
	}
	if p.ReceiverSettleMode == ReceiverSettleModeFirst {
		w.null()
	} else {
		w.uint8(uint8(p.ReceiverSettleMode))
	}
	if p.Source == nil {
		w.null()
	} else if w.err == nil {
		w.b, w.err = p.Source.Marshal(w.b)
		w.kept()
	}
	if p.Target == nil {
		w.null()
	} else if w.err == nil {
		w.b, w.err = p.Target.Marshal(w.b)
		w.kept()
	}
	w.optMap(p.Unsettled)
	w.flag(p.IncompleteUnsettled)
	if p.Role == RoleSender {
		w.uint32(p.InitialDeliveryCount)
	} else {
		w.optUint32(p.InitialDeliveryCount)
	}
	w.optUint64(p.MaxMessageSize)
	w.symbols(p.OfferedCapabilities)
	w.symbols(p.DesiredCapabilities)
	w.optMap(p.Properties)
	return w.finish()
}

// Unmarshal decodes an attach that makes up all of data.
func (p *Attach) Unmarshal(data []byte) error {
	d := newDecoder(data)
	if err := p.decode(&d); err != nil {
		return err
	}
	return d.end()
}

func (p *Attach) decode(d *decoder) error {
	*p = Attach{}
	f := d.composite(DescriptorAttach, "attach")
	var ok bool
	p.Name, ok = f.string("name")
	f.require(ok, "name")
	p.Handle, ok = f.uint32("handle")
	f.require(ok, "handle")
	role, ok := f.bool("role")
	f.require(ok, "role")
	p.Role = Role(role)
	if v, ok := f.uint8("snd-settle-mode"); ok {
		m := SenderSettleMode(v)
		p.SenderSettleMode = &m
	}
	rcv, _ := f.uint8("rcv-settle-mode")
	p.ReceiverSettleMode = ReceiverSettleMode(rcv)
	p.Source = f.source("source")
	p.Target = f.target("target")
	p.Unsettled = f.fieldsMap("unsettled")
	p.IncompleteUnsettled, _ = f.bool("incomplete-unsettled")
	p.InitialDeliveryCount, _ = f.uint32("initial-delivery-count")
	p.MaxMessageSize, _ = f.uint64("max-message-size")
	p.OfferedCapabilities, _ = f.symbols("offered-capabilities")
	p.DesiredCapabilities, _ = f.symbols("desired-capabilities")
	p.Properties = f.fieldsMap("properties")
	return f.finish(d)
}

// Flow is the flow performative (0x13), updating session and link flow
// state. The link fields (Handle onwards) are set together or not at all.
type Flow struct {
	// NextIncomingID is nil until the sender has received a begin.
	NextIncomingID *uint32
	// IncomingWindow is the sender's incoming window; mandatory.
	IncomingWindow uint32
	// NextOutgoingID is the sender's next outgoing transfer-id; mandatory.
	NextOutgoingID uint32
	// OutgoingWindow is the sender's outgoing window; mandatory.
	OutgoingWindow uint32
	// Handle is the link the flow is for; nil for session-only flow.
	Handle *uint32
	// DeliveryCount is the link's delivery-count; nil when absent.
	DeliveryCount *uint32
	// LinkCredit is the link credit; nil when absent.
	LinkCredit *uint32
	// Available is the number of messages awaiting credit at the sender.
	Available *uint32
	// Drain asks the sender to use up all credit.
	Drain bool
	// Echo asks the peer to reply with its flow state.
	Echo bool
	// Properties are link state properties.
	Properties Map
}

// Descriptor returns DescriptorFlow.
func (p *Flow) Descriptor() uint64 { return DescriptorFlow }

// Marshal appends the encoded flow to b.
func (p *Flow) Marshal(b []byte) ([]byte, error) {
	w := beginComposite(b, DescriptorFlow)
	w.ptrUint32(p.NextIncomingID)
	w.uint32(p.IncomingWindow)
	w.uint32(p.NextOutgoingID)
	w.uint32(p.OutgoingWindow)
	w.ptrUint32(p.Handle)
	w.ptrUint32(p.DeliveryCount)
	w.ptrUint32(p.LinkCredit)
	w.ptrUint32(p.Available)
	w.flag(p.Drain)
	w.flag(p.Echo)
	w.optMap(p.Properties)
	return w.finish()
}

// Unmarshal decodes a flow that makes up all of data.
func (p *Flow) Unmarshal(data []byte) error {
	d := newDecoder(data)
	if err := p.decode(&d); err != nil {
		return err
	}
	return d.end()
}

func (p *Flow) decode(d *decoder) error {
	*p = Flow{}
	// The optional fields share one allocation.
	var opt *[5]uint32
	optional := func(i int, v uint32, ok bool) *uint32 {
		if !ok {
			return nil
		}
		if opt == nil {
			opt = new([5]uint32)
		}
		opt[i] = v
		return &opt[i]
	}
	f := d.composite(DescriptorFlow, "flow")
	v, ok := f.uint32("next-incoming-id")
	p.NextIncomingID = optional(0, v, ok)
	p.IncomingWindow, ok = f.uint32("incoming-window")
	f.require(ok, "incoming-window")
	p.NextOutgoingID, ok = f.uint32("next-outgoing-id")
	f.require(ok, "next-outgoing-id")
	p.OutgoingWindow, ok = f.uint32("outgoing-window")
	f.require(ok, "outgoing-window")
	v, ok = f.uint32("handle")
	p.Handle = optional(1, v, ok)
	v, ok = f.uint32("delivery-count")
	p.DeliveryCount = optional(2, v, ok)
	v, ok = f.uint32("link-credit")
	p.LinkCredit = optional(3, v, ok)
	v, ok = f.uint32("available")
	p.Available = optional(4, v, ok)
	p.Drain, _ = f.bool("drain")
	p.Echo, _ = f.bool("echo")
	p.Properties = f.fieldsMap("properties")
	return f.finish(d)
}

// Transfer is the transfer performative (0x14) followed by its payload, a
// part of an encoded message. DeliveryID, DeliveryTag and MessageFormat are
// set on the first transfer of a delivery and may be absent on the rest.
type Transfer struct {
	// Handle is the link the transfer is for; mandatory.
	Handle uint32
	// DeliveryID is the delivery-id; nil when absent.
	DeliveryID *uint32
	// DeliveryTag is the delivery tag (at most 32 bytes); nil when absent.
	DeliveryTag []byte
	// MessageFormat is the message format code (0 for AMQP messages); nil
	// when absent.
	MessageFormat *uint32
	// Settled reports that the sender settled the delivery.
	Settled bool
	// More reports that more transfers follow for this delivery.
	More bool
	// ReceiverSettleMode overrides the link's mode; nil when absent.
	ReceiverSettleMode *ReceiverSettleMode
	// State is the delivery state; nil when absent.
	State DeliveryState
	// Resume marks a resumed delivery.
	Resume bool
	// Aborted discards the delivery.
	Aborted bool
	// Batchable lets the peer delay the disposition.
	Batchable bool
	// Payload is the message bytes carried by this frame. After Unmarshal
	// it aliases the decoded data.
	Payload []byte
}

// Descriptor returns DescriptorTransfer.
func (p *Transfer) Descriptor() uint64 { return DescriptorTransfer }

// Marshal appends the encoded transfer and its payload to b.
func (p *Transfer) Marshal(b []byte) ([]byte, error) {
	w := beginComposite(b, DescriptorTransfer)
	w.uint32(p.Handle)
	w.ptrUint32(p.DeliveryID)
	w.optBinary(p.DeliveryTag)
	w.ptrUint32(p.MessageFormat)
	w.flag(p.Settled)
	w.flag(p.More)
	if p.ReceiverSettleMode == nil {
		w.null()
	} else {
		w.uint8(uint8(*p.ReceiverSettleMode))
	}
	w.state(p.State)
	w.flag(p.Resume)
	w.flag(p.Aborted)
	w.flag(p.Batchable)
	b, err := w.finish()
	if err != nil {
		return b, err
	}
	return append(b, p.Payload...), nil
}

// Unmarshal decodes a transfer at the start of data; the remaining bytes
// become Payload, aliasing data.
func (p *Transfer) Unmarshal(data []byte) error {
	d := newDecoder(data)
	if err := p.decode(&d); err != nil {
		return err
	}
	p.Payload = data[d.off:len(data):len(data)]
	return nil
}

func (p *Transfer) decode(d *decoder) error {
	*p = Transfer{}
	// The optional fields share one allocation.
	var opt *struct {
		id, format uint32
		mode       ReceiverSettleMode
	}
	alloc := func() {
		if opt == nil {
			opt = &struct {
				id, format uint32
				mode       ReceiverSettleMode
			}{}
		}
	}
	f := d.composite(DescriptorTransfer, "transfer")
	var ok bool
	p.Handle, ok = f.uint32("handle")
	f.require(ok, "handle")
	if v, ok := f.uint32("delivery-id"); ok {
		alloc()
		opt.id = v
		p.DeliveryID = &opt.id
	}
	p.DeliveryTag, _ = f.binary("delivery-tag")
	if v, ok := f.uint32("message-format"); ok {
		alloc()
		opt.format = v
		p.MessageFormat = &opt.format
	}
	p.Settled, _ = f.bool("settled")
	p.More, _ = f.bool("more")
	if v, ok := f.uint8("rcv-settle-mode"); ok {
		alloc()
		opt.mode = ReceiverSettleMode(v)
		p.ReceiverSettleMode = &opt.mode
	}
	p.State = f.state("state")
	p.Resume, _ = f.bool("resume")
	p.Aborted, _ = f.bool("aborted")
	p.Batchable, _ = f.bool("batchable")
	return f.finish(d)
}

// Disposition is the disposition performative (0x15), updating the state
// of the deliveries First through Last.
type Disposition struct {
	// Role is the role of the sender of this frame; mandatory.
	Role Role
	// First is the first delivery-id affected; mandatory.
	First uint32
	// Last is the last delivery-id affected; nil means First.
	Last *uint32
	// Settled reports that the deliveries are settled.
	Settled bool
	// State is the new delivery state; nil when absent.
	State DeliveryState
	// Batchable lets the peer delay its reply.
	Batchable bool
}

// Descriptor returns DescriptorDisposition.
func (p *Disposition) Descriptor() uint64 { return DescriptorDisposition }

// Marshal appends the encoded disposition to b.
func (p *Disposition) Marshal(b []byte) ([]byte, error) {
	w := beginComposite(b, DescriptorDisposition)
	w.bool(bool(p.Role))
	w.uint32(p.First)
	w.ptrUint32(p.Last)
	w.flag(p.Settled)
	w.state(p.State)
	w.flag(p.Batchable)
	return w.finish()
}

// Unmarshal decodes a disposition that makes up all of data.
func (p *Disposition) Unmarshal(data []byte) error {
	d := newDecoder(data)
	if err := p.decode(&d); err != nil {
		return err
	}
	return d.end()
}

func (p *Disposition) decode(d *decoder) error {
	*p = Disposition{}
	f := d.composite(DescriptorDisposition, "disposition")
	role, ok := f.bool("role")
	f.require(ok, "role")
	p.Role = Role(role)
	p.First, ok = f.uint32("first")
	f.require(ok, "first")
	if v, ok := f.uint32("last"); ok {
		p.Last = &v
	}
	p.Settled, _ = f.bool("settled")
	p.State = f.state("state")
	p.Batchable, _ = f.bool("batchable")
	return f.finish(d)
}

// Detach is the detach performative (0x16), detaching (and with Closed,
// closing) a link.
type Detach struct {
	// Handle is the link being detached; mandatory.
	Handle uint32
	// Closed reports that the link is closed, not just detached.
	Closed bool
	// Error is the reason for detaching; nil when absent.
	Error *Error
}

// Descriptor returns DescriptorDetach.
func (p *Detach) Descriptor() uint64 { return DescriptorDetach }

// Marshal appends the encoded detach to b.
func (p *Detach) Marshal(b []byte) ([]byte, error) {
	w := beginComposite(b, DescriptorDetach)
	w.uint32(p.Handle)
	w.flag(p.Closed)
	w.errorField(p.Error)
	return w.finish()
}

// Unmarshal decodes a detach that makes up all of data.
func (p *Detach) Unmarshal(data []byte) error {
	d := newDecoder(data)
	if err := p.decode(&d); err != nil {
		return err
	}
	return d.end()
}

func (p *Detach) decode(d *decoder) error {
	*p = Detach{}
	f := d.composite(DescriptorDetach, "detach")
	var ok bool
	p.Handle, ok = f.uint32("handle")
	f.require(ok, "handle")
	p.Closed, _ = f.bool("closed")
	p.Error = f.errorField("error")
	return f.finish(d)
}

// End is the end performative (0x17), ending a session.
type End struct {
	// Error is the reason for ending; nil when absent.
	Error *Error
}

// Descriptor returns DescriptorEnd.
func (p *End) Descriptor() uint64 { return DescriptorEnd }

// Marshal appends the encoded end to b.
func (p *End) Marshal(b []byte) ([]byte, error) {
	w := beginComposite(b, DescriptorEnd)
	w.errorField(p.Error)
	return w.finish()
}

// Unmarshal decodes an end that makes up all of data.
func (p *End) Unmarshal(data []byte) error {
	d := newDecoder(data)
	if err := p.decode(&d); err != nil {
		return err
	}
	return d.end()
}

func (p *End) decode(d *decoder) error {
	*p = End{}
	f := d.composite(DescriptorEnd, "end")
	p.Error = f.errorField("error")
	return f.finish(d)
}

// Close is the close performative (0x18), closing the connection.
type Close struct {
	// Error is the reason for closing; nil when absent.
	Error *Error
}

// Descriptor returns DescriptorClose.
func (p *Close) Descriptor() uint64 { return DescriptorClose }

// Marshal appends the encoded close to b.
func (p *Close) Marshal(b []byte) ([]byte, error) {
	w := beginComposite(b, DescriptorClose)
	w.errorField(p.Error)
	return w.finish()
}

// Unmarshal decodes a close that makes up all of data.
func (p *Close) Unmarshal(data []byte) error {
	d := newDecoder(data)
	if err := p.decode(&d); err != nil {
		return err
	}
	return d.end()
}

func (p *Close) decode(d *decoder) error {
	*p = Close{}
	f := d.composite(DescriptorClose, "close")
	p.Error = f.errorField("error")
	return f.finish(d)
}
