package amqp10

// Numeric descriptor codes of the AMQP 1.0 composite types this package
// knows. All belong to the amqp domain (high 32 bits zero).
const (
	DescriptorOpen        uint64 = 0x10
	DescriptorBegin       uint64 = 0x11
	DescriptorAttach      uint64 = 0x12
	DescriptorFlow        uint64 = 0x13
	DescriptorTransfer    uint64 = 0x14
	DescriptorDisposition uint64 = 0x15
	DescriptorDetach      uint64 = 0x16
	DescriptorEnd         uint64 = 0x17
	DescriptorClose       uint64 = 0x18

	DescriptorError uint64 = 0x1d

	DescriptorReceived uint64 = 0x23
	DescriptorAccepted uint64 = 0x24
	DescriptorRejected uint64 = 0x25
	DescriptorReleased uint64 = 0x26
	DescriptorModified uint64 = 0x27

	DescriptorSource uint64 = 0x28
	DescriptorTarget uint64 = 0x29

	DescriptorSASLMechanisms uint64 = 0x40
	DescriptorSASLInit       uint64 = 0x41
	DescriptorSASLChallenge  uint64 = 0x42
	DescriptorSASLResponse   uint64 = 0x43
	DescriptorSASLOutcome    uint64 = 0x44

	DescriptorHeader                uint64 = 0x70
	DescriptorDeliveryAnnotations   uint64 = 0x71
	DescriptorMessageAnnotations    uint64 = 0x72
	DescriptorProperties            uint64 = 0x73
	DescriptorApplicationProperties uint64 = 0x74
	DescriptorData                  uint64 = 0x75
	DescriptorAMQPSequence          uint64 = 0x76
	DescriptorAMQPValue             uint64 = 0x77
	DescriptorFooter                uint64 = 0x78
)

// descriptorNames maps each known descriptor code to its symbolic name.
var descriptorNames = map[uint64]string{
	DescriptorOpen:        "amqp:open:list",
	DescriptorBegin:       "amqp:begin:list",
	DescriptorAttach:      "amqp:attach:list",
	DescriptorFlow:        "amqp:flow:list",
	DescriptorTransfer:    "amqp:transfer:list",
	DescriptorDisposition: "amqp:disposition:list",
	DescriptorDetach:      "amqp:detach:list",
	DescriptorEnd:         "amqp:end:list",
	DescriptorClose:       "amqp:close:list",

	DescriptorError: "amqp:error:list",

	DescriptorReceived: "amqp:received:list",
	DescriptorAccepted: "amqp:accepted:list",
	DescriptorRejected: "amqp:rejected:list",
	DescriptorReleased: "amqp:released:list",
	DescriptorModified: "amqp:modified:list",

	DescriptorSource: "amqp:source:list",
	DescriptorTarget: "amqp:target:list",

	DescriptorSASLMechanisms: "amqp:sasl-mechanisms:list",
	DescriptorSASLInit:       "amqp:sasl-init:list",
	DescriptorSASLChallenge:  "amqp:sasl-challenge:list",
	DescriptorSASLResponse:   "amqp:sasl-response:list",
	DescriptorSASLOutcome:    "amqp:sasl-outcome:list",

	DescriptorHeader:                "amqp:header:list",
	DescriptorDeliveryAnnotations:   "amqp:delivery-annotations:map",
	DescriptorMessageAnnotations:    "amqp:message-annotations:map",
	DescriptorProperties:            "amqp:properties:list",
	DescriptorApplicationProperties: "amqp:application-properties:map",
	DescriptorData:                  "amqp:data:binary",
	DescriptorAMQPSequence:          "amqp:amqp-sequence:list",
	DescriptorAMQPValue:             "amqp:amqp-value:*",
	DescriptorFooter:                "amqp:footer:map",
}

// descriptorCodes is the inverse of descriptorNames.
var descriptorCodes = func() map[string]uint64 {
	m := make(map[string]uint64, len(descriptorNames))
	for code, name := range descriptorNames {
		m[name] = code
	}
	return m
}()

// DescriptorName returns the symbolic descriptor of a known numeric
// descriptor code, or "" if the code is unknown.
func DescriptorName(code uint64) Symbol {
	return Symbol(descriptorNames[code])
}

// DescriptorCode returns the numeric code of a known symbolic descriptor.
func DescriptorCode(name Symbol) (uint64, bool) {
	code, ok := descriptorCodes[string(name)]
	return code, ok
}
