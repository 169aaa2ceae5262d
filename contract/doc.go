// Package contract is the driver contract suite as a library: Run checks
// one driver against one backend, described by a Harness, on every clause
// of CONTRACT.md (C01-C35). The clauses are checked by the Gherkin
// scenarios of package features, run with godog inside go test, and by
// rapid properties. Steps observe behaviour (they count what listeners
// actually receive, by ids carried in each message, and time every wait)
// rather than trust what the driver reports.
//
// Each run ends with a clause report: per clause pass, fail (with the
// first failure) or n.a. (with the reason, such as a scenario that needs
// fault injection on a harness without it), printed as a table and written
// as JSON and Markdown.
//
// A typical harness test:
//
//	func TestContract(t *testing.T) {
//		contract.Run(t, contract.Harness{
//			Name:    "rabbit",
//			Backend: "RabbitMQ",
//			Kind:    contract.Broker,
//			URL:     realbroker.RabbitURL(t),
//		})
//	}
//
// Check runs the same suite outside go test, as `switchyard contract --url`
// does against a staging deployment. Harness.Faults connects the fault
// scenarios to a backend that can inject faults; package brokerfaults does
// so for Switchyard's fake broker.
package contract
