package amqp10

// DeliveryState is the state of a delivery as carried by the state field of
// transfer and disposition, and by unsettled maps and default-outcome. The
// terminal outcomes are Accepted, Rejected, Released and Modified; Received
// is the non-terminal state. A described state this package does not model
// (such as a transactional state) decodes to UnknownDeliveryState.
type DeliveryState interface {
	// Marshal appends the encoded state to b.
	Marshal(b []byte) ([]byte, error)
	isDeliveryState()
}

// Accepted is the accepted outcome (0x24): the message was processed.
type Accepted struct{}

// Rejected is the rejected outcome (0x25): the message is invalid and
// cannot be processed; Error optionally says why.
type Rejected struct {
	// Error is the reason for rejecting; nil when absent.
	Error *Error
}

// Released is the released outcome (0x26): the message was not and will
// not be processed, and may be redelivered.
type Released struct{}

// Modified is the modified outcome (0x27): like released, with changes to
// apply before redelivery.
type Modified struct {
	// DeliveryFailed asks to count the transfer as an unsuccessful delivery.
	DeliveryFailed bool
	// UndeliverableHere asks not to redeliver the message to this link.
	UndeliverableHere bool
	// MessageAnnotations are merged into the message's annotations.
	MessageAnnotations Map
}

// Received is the non-terminal received state (0x23): how much of the
// message has arrived, for resuming a partial transfer.
type Received struct {
	// SectionNumber is the number of the section being received, from 0.
	SectionNumber uint32
	// SectionOffset is the byte offset reached within that section.
	SectionOffset uint64
}

// UnknownDeliveryState carries a described delivery state this package does
// not model, as decoded.
type UnknownDeliveryState struct {
	// Value is the state as decoded.
	Value Described
}

func (Accepted) isDeliveryState()             {}
func (Rejected) isDeliveryState()             {}
func (Released) isDeliveryState()             {}
func (Modified) isDeliveryState()             {}
func (Received) isDeliveryState()             {}
func (UnknownDeliveryState) isDeliveryState() {}

// Marshal appends the encoded accepted outcome to b.
func (Accepted) Marshal(b []byte) ([]byte, error) {
	return append(b, codeDescribed, codeSmallUlong, byte(DescriptorAccepted), codeList0), nil
}

// Marshal appends the encoded released outcome to b.
func (Released) Marshal(b []byte) ([]byte, error) {
	return append(b, codeDescribed, codeSmallUlong, byte(DescriptorReleased), codeList0), nil
}

// Marshal appends the encoded rejected outcome to b.
func (s Rejected) Marshal(b []byte) ([]byte, error) {
	w := beginComposite(b, DescriptorRejected)
	w.errorField(s.Error)
	return w.finish()
}

// Marshal appends the encoded modified outcome to b.
func (s Modified) Marshal(b []byte) ([]byte, error) {
	w := beginComposite(b, DescriptorModified)
	w.flag(s.DeliveryFailed)
	w.flag(s.UndeliverableHere)
	w.optMap(s.MessageAnnotations)
	return w.finish()
}

// Marshal appends the encoded received state to b.
func (s Received) Marshal(b []byte) ([]byte, error) {
	w := beginComposite(b, DescriptorReceived)
	w.uint32(s.SectionNumber)
	w.uint64(s.SectionOffset)
	return w.finish()
}

// Marshal appends the described value to b.
func (s UnknownDeliveryState) Marshal(b []byte) ([]byte, error) {
	return AppendValue(b, s.Value)
}

// UnmarshalDeliveryState decodes a delivery state that makes up all of data.
// A null decodes to a nil DeliveryState.
func UnmarshalDeliveryState(data []byte) (DeliveryState, error) {
	d := newDecoder(data)
	if d.peekNull() {
		d.off++
		return nil, d.end()
	}
	s, err := d.readDeliveryState()
	if err != nil {
		return nil, err
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	return s, nil
}

// readDeliveryState decodes a described delivery state.
func (d *decoder) readDeliveryState() (DeliveryState, error) {
	start := d.off
	code, err := d.readDescriptorCode()
	d.off = start
	if err != nil {
		code = 0 // not a known descriptor; decoded generically below
	}
	switch code {
	case DescriptorAccepted:
		f := d.composite(DescriptorAccepted, "accepted")
		return Accepted{}, f.finish(d)
	case DescriptorReleased:
		f := d.composite(DescriptorReleased, "released")
		return Released{}, f.finish(d)
	case DescriptorRejected:
		f := d.composite(DescriptorRejected, "rejected")
		var s Rejected
		s.Error = f.errorField("error")
		return s, f.finish(d)
	case DescriptorModified:
		f := d.composite(DescriptorModified, "modified")
		var s Modified
		s.DeliveryFailed, _ = f.bool("delivery-failed")
		s.UndeliverableHere, _ = f.bool("undeliverable-here")
		s.MessageAnnotations = f.fieldsMap("message-annotations")
		return s, f.finish(d)
	case DescriptorReceived:
		f := d.composite(DescriptorReceived, "received")
		var s Received
		var ok bool
		s.SectionNumber, ok = f.uint32("section-number")
		f.require(ok, "section-number")
		s.SectionOffset, ok = f.uint64("section-offset")
		f.require(ok, "section-offset")
		return s, f.finish(d)
	}
	v, err := d.readValue()
	if err != nil {
		return nil, err
	}
	desc, ok := v.(Described)
	if !ok {
		return nil, decodeErrorf("delivery state is not a described type")
	}
	return UnknownDeliveryState{Value: desc}, nil
}
