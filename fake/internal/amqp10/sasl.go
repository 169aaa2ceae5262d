package amqp10

// SASLCode is the outcome code of a SASL exchange.
type SASLCode uint8

// SASL outcome codes.
const (
	// SASLCodeOK: authentication succeeded.
	SASLCodeOK SASLCode = 0
	// SASLCodeAuth: authentication failed because of bad credentials.
	SASLCodeAuth SASLCode = 1
	// SASLCodeSys: a system error occurred.
	SASLCodeSys SASLCode = 2
	// SASLCodeSysPerm: a permanent system error occurred.
	SASLCodeSysPerm SASLCode = 3
	// SASLCodeSysTemp: a transient system error occurred.
	SASLCodeSysTemp SASLCode = 4
)

// Well-known SASL mechanism names.
const (
	SASLMechanismAnonymous Symbol = "ANONYMOUS"
	SASLMechanismPlain     Symbol = "PLAIN"
	SASLMechanismExternal  Symbol = "EXTERNAL"
)

// ParseSASLBody decodes the body of a SASL frame (type 1) into the SASL
// frame body its descriptor names.
func ParseSASLBody(body []byte) (FrameBody, error) {
	code, err := PeekDescriptor(body)
	if err != nil {
		return nil, wrapDecodeError(err, "SASL frame body")
	}
	var p FrameBody
	switch code {
	case DescriptorSASLMechanisms:
		p = new(SASLMechanisms)
	case DescriptorSASLInit:
		p = new(SASLInit)
	case DescriptorSASLChallenge:
		p = new(SASLChallenge)
	case DescriptorSASLResponse:
		p = new(SASLResponse)
	case DescriptorSASLOutcome:
		p = new(SASLOutcome)
	default:
		return nil, decodeErrorf("SASL frame body: descriptor 0x%x is not a SASL frame", code)
	}
	if err := p.Unmarshal(body); err != nil {
		return nil, err
	}
	return p, nil
}

// SASLMechanisms is the sasl-mechanisms frame (0x40), sent by the server to
// advertise its mechanisms.
type SASLMechanisms struct {
	// Mechanisms lists the supported mechanisms; mandatory (an empty list
	// is encoded as an empty array).
	Mechanisms []Symbol
}

// Descriptor returns DescriptorSASLMechanisms.
func (p *SASLMechanisms) Descriptor() uint64 { return DescriptorSASLMechanisms }

// Marshal appends the encoded frame body to b.
func (p *SASLMechanisms) Marshal(b []byte) ([]byte, error) {
	w := beginComposite(b, DescriptorSASLMechanisms)
	w.b = appendSymbolArray(w.b, p.Mechanisms)
	w.kept()
	return w.finish()
}

// Unmarshal decodes a sasl-mechanisms body that makes up all of data.
func (p *SASLMechanisms) Unmarshal(data []byte) error {
	d := newDecoder(data)
	if err := p.decode(&d); err != nil {
		return err
	}
	return d.end()
}

func (p *SASLMechanisms) decode(d *decoder) error {
	*p = SASLMechanisms{}
	f := d.composite(DescriptorSASLMechanisms, "sasl-mechanisms")
	var ok bool
	p.Mechanisms, ok = f.symbols("sasl-server-mechanisms")
	f.require(ok, "sasl-server-mechanisms")
	return f.finish(d)
}

// SASLInit is the sasl-init frame (0x41), sent by the client to select a
// mechanism.
type SASLInit struct {
	// Mechanism is the selected mechanism; mandatory.
	Mechanism Symbol
	// InitialResponse is the initial response; nil when absent.
	InitialResponse []byte
	// Hostname is the name of the target host; "" means absent.
	Hostname string
}

// Descriptor returns DescriptorSASLInit.
func (p *SASLInit) Descriptor() uint64 { return DescriptorSASLInit }

// Marshal appends the encoded frame body to b.
func (p *SASLInit) Marshal(b []byte) ([]byte, error) {
	w := beginComposite(b, DescriptorSASLInit)
	w.symbol(p.Mechanism)
	w.optBinary(p.InitialResponse)
	w.optString(p.Hostname)
	return w.finish()
}

// Unmarshal decodes a sasl-init body that makes up all of data.
func (p *SASLInit) Unmarshal(data []byte) error {
	d := newDecoder(data)
	if err := p.decode(&d); err != nil {
		return err
	}
	return d.end()
}

func (p *SASLInit) decode(d *decoder) error {
	*p = SASLInit{}
	f := d.composite(DescriptorSASLInit, "sasl-init")
	var ok bool
	p.Mechanism, ok = f.symbol("mechanism")
	f.require(ok, "mechanism")
	p.InitialResponse, _ = f.binary("initial-response")
	p.Hostname, _ = f.string("hostname")
	return f.finish(d)
}

// SASLChallenge is the sasl-challenge frame (0x42), sent by the server.
type SASLChallenge struct {
	// Challenge is the security challenge data; mandatory.
	Challenge []byte
}

// Descriptor returns DescriptorSASLChallenge.
func (p *SASLChallenge) Descriptor() uint64 { return DescriptorSASLChallenge }

// Marshal appends the encoded frame body to b.
func (p *SASLChallenge) Marshal(b []byte) ([]byte, error) {
	w := beginComposite(b, DescriptorSASLChallenge)
	w.binary(p.Challenge)
	return w.finish()
}

// Unmarshal decodes a sasl-challenge body that makes up all of data.
func (p *SASLChallenge) Unmarshal(data []byte) error {
	d := newDecoder(data)
	if err := p.decode(&d); err != nil {
		return err
	}
	return d.end()
}

func (p *SASLChallenge) decode(d *decoder) error {
	*p = SASLChallenge{}
	f := d.composite(DescriptorSASLChallenge, "sasl-challenge")
	var ok bool
	p.Challenge, ok = f.binary("challenge")
	f.require(ok, "challenge")
	return f.finish(d)
}

// SASLResponse is the sasl-response frame (0x43), sent by the client.
type SASLResponse struct {
	// Response is the security response data; mandatory.
	Response []byte
}

// Descriptor returns DescriptorSASLResponse.
func (p *SASLResponse) Descriptor() uint64 { return DescriptorSASLResponse }

// Marshal appends the encoded frame body to b.
func (p *SASLResponse) Marshal(b []byte) ([]byte, error) {
	w := beginComposite(b, DescriptorSASLResponse)
	w.binary(p.Response)
	return w.finish()
}

// Unmarshal decodes a sasl-response body that makes up all of data.
func (p *SASLResponse) Unmarshal(data []byte) error {
	d := newDecoder(data)
	if err := p.decode(&d); err != nil {
		return err
	}
	return d.end()
}

func (p *SASLResponse) decode(d *decoder) error {
	*p = SASLResponse{}
	f := d.composite(DescriptorSASLResponse, "sasl-response")
	var ok bool
	p.Response, ok = f.binary("response")
	f.require(ok, "response")
	return f.finish(d)
}

// SASLOutcome is the sasl-outcome frame (0x44), ending the SASL exchange.
type SASLOutcome struct {
	// Code is the outcome; mandatory.
	Code SASLCode
	// AdditionalData is extra success data; nil when absent.
	AdditionalData []byte
}

// Descriptor returns DescriptorSASLOutcome.
func (p *SASLOutcome) Descriptor() uint64 { return DescriptorSASLOutcome }

// Marshal appends the encoded frame body to b.
func (p *SASLOutcome) Marshal(b []byte) ([]byte, error) {
	w := beginComposite(b, DescriptorSASLOutcome)
	w.uint8(uint8(p.Code))
	w.optBinary(p.AdditionalData)
	return w.finish()
}

// Unmarshal decodes a sasl-outcome body that makes up all of data.
func (p *SASLOutcome) Unmarshal(data []byte) error {
	d := newDecoder(data)
	if err := p.decode(&d); err != nil {
		return err
	}
	return d.end()
}

func (p *SASLOutcome) decode(d *decoder) error {
	*p = SASLOutcome{}
	f := d.composite(DescriptorSASLOutcome, "sasl-outcome")
	code, ok := f.uint8("code")
	f.require(ok, "code")
	p.Code = SASLCode(code)
	p.AdditionalData, _ = f.binary("additional-data")
	return f.finish(d)
}
