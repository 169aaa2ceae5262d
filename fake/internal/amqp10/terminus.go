package amqp10

// Source is the source terminus of a link (descriptor 0x28,
// amqp:source:list). Zero values mean the field is absent and the spec
// default applies.
type Source struct {
	// Address is the node address; "" means absent (as for a dynamic node).
	Address string
	// Durable is the terminus durability; default DurabilityNone.
	Durable Durability
	// ExpiryPolicy is one of the Expiry constants; "" means ExpirySessionEnd.
	ExpiryPolicy Symbol
	// Timeout is the expiry timeout in seconds; default 0.
	Timeout uint32
	// Dynamic asks the peer to create the node.
	Dynamic bool
	// DynamicNodeProperties are the requested properties of a dynamic node.
	DynamicNodeProperties Map
	// DistributionMode is DistributionMove, DistributionCopy or "" (absent).
	DistributionMode Symbol
	// Filter is the filter-set: symbol keys to described filters.
	Filter Map
	// DefaultOutcome is the outcome of unsettled deliveries on link close.
	DefaultOutcome DeliveryState
	// Outcomes lists the outcome descriptors the source supports.
	Outcomes []Symbol
	// Capabilities lists the extension capabilities of the source.
	Capabilities []Symbol
}

// Target is the target terminus of a link (descriptor 0x29,
// amqp:target:list). Zero values mean the field is absent and the spec
// default applies.
type Target struct {
	// Address is the node address; "" means absent (as for a dynamic node
	// or an anonymous-relay link).
	Address string
	// Durable is the terminus durability; default DurabilityNone.
	Durable Durability
	// ExpiryPolicy is one of the Expiry constants; "" means ExpirySessionEnd.
	ExpiryPolicy Symbol
	// Timeout is the expiry timeout in seconds; default 0.
	Timeout uint32
	// Dynamic asks the peer to create the node.
	Dynamic bool
	// DynamicNodeProperties are the requested properties of a dynamic node.
	DynamicNodeProperties Map
	// Capabilities lists the extension capabilities of the target.
	Capabilities []Symbol
}

// Descriptor returns DescriptorSource.
func (s *Source) Descriptor() uint64 { return DescriptorSource }

// Marshal appends the encoded source to b.
func (s *Source) Marshal(b []byte) ([]byte, error) {
	w := beginComposite(b, DescriptorSource)
	w.optString(s.Address)
	w.optUint32(uint32(s.Durable))
	w.optSymbol(s.ExpiryPolicy)
	w.optUint32(s.Timeout)
	w.flag(s.Dynamic)
	w.optMap(s.DynamicNodeProperties)
	w.optSymbol(s.DistributionMode)
	w.optMap(s.Filter)
	w.state(s.DefaultOutcome)
	w.symbols(s.Outcomes)
	w.symbols(s.Capabilities)
	return w.finish()
}

// Unmarshal decodes a source that makes up all of data.
func (s *Source) Unmarshal(data []byte) error {
	d := newDecoder(data)
	if err := s.decode(&d); err != nil {
		return err
	}
	return d.end()
}

func (s *Source) decode(d *decoder) error {
	*s = Source{}
	f := d.composite(DescriptorSource, "source")
	s.Address = f.address("address")
	durable, _ := f.uint32("durable")
	s.Durable = Durability(durable)
	s.ExpiryPolicy, _ = f.symbol("expiry-policy")
	s.Timeout, _ = f.uint32("timeout")
	s.Dynamic, _ = f.bool("dynamic")
	s.DynamicNodeProperties = f.fieldsMap("dynamic-node-properties")
	s.DistributionMode, _ = f.symbol("distribution-mode")
	s.Filter = f.fieldsMap("filter")
	s.DefaultOutcome = f.state("default-outcome")
	s.Outcomes, _ = f.symbols("outcomes")
	s.Capabilities, _ = f.symbols("capabilities")
	return f.finish(d)
}

// Descriptor returns DescriptorTarget.
func (t *Target) Descriptor() uint64 { return DescriptorTarget }

// Marshal appends the encoded target to b.
func (t *Target) Marshal(b []byte) ([]byte, error) {
	w := beginComposite(b, DescriptorTarget)
	w.optString(t.Address)
	w.optUint32(uint32(t.Durable))
	w.optSymbol(t.ExpiryPolicy)
	w.optUint32(t.Timeout)
	w.flag(t.Dynamic)
	w.optMap(t.DynamicNodeProperties)
	w.symbols(t.Capabilities)
	return w.finish()
}

// Unmarshal decodes a target that makes up all of data.
func (t *Target) Unmarshal(data []byte) error {
	d := newDecoder(data)
	if err := t.decode(&d); err != nil {
		return err
	}
	return d.end()
}

func (t *Target) decode(d *decoder) error {
	*t = Target{}
	f := d.composite(DescriptorTarget, "target")
	t.Address = f.address("address")
	durable, _ := f.uint32("durable")
	t.Durable = Durability(durable)
	t.ExpiryPolicy, _ = f.symbol("expiry-policy")
	t.Timeout, _ = f.uint32("timeout")
	t.Dynamic, _ = f.bool("dynamic")
	t.DynamicNodeProperties = f.fieldsMap("dynamic-node-properties")
	t.Capabilities, _ = f.symbols("capabilities")
	return f.finish(d)
}
