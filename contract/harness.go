package contract

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/cucumber/godog"

	"github.com/switchyard-dev/switchyard/drivers"
)

// BackendKind is what a backend does with a message: store and forward it
// (a broker) or pass it straight to a consumer (a router).
type BackendKind int

// Backend kinds.
const (
	// Broker backends store and forward: a send returns once stored (C20).
	Broker BackendKind = iota + 1
	// Router backends are direct: a send returns once a listener accepted
	// the message (C21).
	Router
)

// String names the kind as reports show it: "broker" or "router".
func (k BackendKind) String() string {
	switch k {
	case Broker:
		return "broker"
	case Router:
		return "router"
	}
	return "unknown"
}

// Harness describes one driver on one backend for Run: how to open the
// driver and what the backend can do for the suite.
type Harness struct {
	// Name names the driver, such as "rabbit" or "amqp1".
	Name string
	// Backend names what the driver talks to, such as "RabbitMQ" or
	// "fake-broker".
	Backend string
	// Kind says whether the backend is a broker or a router; clauses and
	// scenarios marked [broker] or [router] apply to that kind only.
	Kind BackendKind

	// URL is the backend's transport URL, with credentials that work.
	// Scenarios derive bad URLs from it (wrong password, unreachable
	// hosts) for C14, C15, C18 and C19.
	URL string
	// Config returns a fresh configuration for each driver a scenario
	// opens; nil means drivers.DefaultConfig.
	Config func() *drivers.Config
	// Open opens a driver; nil means drivers.Open. A harness may wrap the
	// driver it returns, for example to break it on purpose (see
	// ExpectFail).
	Open func(ctx context.Context, url string, cfg *drivers.Config) (drivers.Driver, error)
	// Prefetch sets the listeners' prefetch count in cfg (for rabbit,
	// rabbit_qos_prefetch_count). Nil makes the prefetch scenarios (C31)
	// not applicable.
	Prefetch func(cfg *drivers.Config, n int)
	// AuthDelay is how long the backend deliberately waits before it
	// refuses bad credentials; the wrong-credentials scenario (C19)
	// allows it on top of "promptly". RabbitMQ waits 3 s.
	AuthDelay time.Duration
	// MaxMessageSize is the largest message body the backend accepts, in
	// bytes; the oversized-message scenario (C19) sends a little more.
	// Zero means 128 MiB, RabbitMQ's default max_message_size.
	MaxMessageSize int

	// Faults injects backend faults. Nil makes the scenarios tagged
	// @needs-faults not applicable.
	Faults FaultInjector
	// Observer shows what travels on the wire. Nil makes the scenarios
	// tagged @needs-tap not applicable.
	Observer Observer
	// Python is a Python oslo.messaging peer on the same backend. Nil
	// makes the scenarios tagged @interop (C35) not applicable.
	Python PythonPeer

	// NotApplicable marks clauses this harness cannot check, with the
	// reason; their scenarios are reported as n.a. and not run.
	NotApplicable map[Clause]string
	// ExpectFail marks clauses the driver is known to break, as a
	// deliberately wrong driver does (a fake in its "lose" or "duplicate"
	// mode, or a wrapper that drops messages). Run then asserts that each
	// of these clauses fails, proving the suite detects the fault, instead
	// of failing the test for failing scenarios.
	ExpectFail map[Clause]bool

	// Tags is a godog tag filter selecting scenarios: "," is or, "&&" is
	// and, "~" is not, as in "@C07,@C08" or "@C29 && ~@broker"; empty
	// runs them all. The environment variable SWITCHYARD_CONTRACT_TAGS
	// overrides it. With Tags set and Properties nil, only the properties
	// of clauses the filter names run.
	Tags string
	// Properties selects which rapid properties run: nil runs all, an
	// empty non-nil slice none, otherwise those of the listed clauses.
	Properties []Clause
	// Wait bounds how long a step waits for something expected, such as
	// a message to arrive; zero means 5 s.
	Wait time.Duration
	// Quiet is how long a step watches for something that must not
	// happen, such as a duplicate, after everything expected has
	// happened; zero means 300 ms.
	Quiet time.Duration
	// ReportDir is where the clause report is written; empty means
	// $SWITCHYARD_CONTRACT_REPORT_DIR, or else
	// os.TempDir()/switchyard-contract. Reports of mutation checks (see
	// ExpectFail) go to its subdirectory "mutation".
	ReportDir string

	// detached is set by Check: the suite runs outside go test, where
	// godog's step logs would land on standard output.
	detached bool
}

// Environment variables read by Run.
const (
	// EnvReportDir names the directory the clause reports go to.
	EnvReportDir = "SWITCHYARD_CONTRACT_REPORT_DIR"
	// EnvTags is a godog tag filter that overrides Harness.Tags.
	EnvTags = "SWITCHYARD_CONTRACT_TAGS"
	// EnvFormat picks the godog output format ("pretty", "progress");
	// the default is "progress".
	EnvFormat = "SWITCHYARD_CONTRACT_FORMAT"
	// EnvHeavy, set to 1, runs the scenarios tagged @heavy (a message
	// over the backend's size limit) under the race detector too, where
	// they are otherwise n.a. because encoding 128 MiB there takes
	// minutes.
	EnvHeavy = "SWITCHYARD_CONTRACT_HEAVY"
)

const defaultMaxMessageSize = 128 << 20

func (h Harness) withDefaults() Harness {
	if h.Config == nil {
		h.Config = drivers.DefaultConfig
	}
	if h.Open == nil {
		h.Open = drivers.Open
	}
	if h.MaxMessageSize <= 0 {
		h.MaxMessageSize = defaultMaxMessageSize
	}
	if h.Wait <= 0 {
		h.Wait = 5 * time.Second
	}
	if h.Quiet <= 0 {
		h.Quiet = 300 * time.Millisecond
	}
	if v := os.Getenv(EnvTags); v != "" {
		h.Tags = v
	}
	if h.ReportDir == "" {
		h.ReportDir = os.Getenv(EnvReportDir)
	}
	if h.ReportDir == "" {
		h.ReportDir = filepath.Join(os.TempDir(), "switchyard-contract")
	}
	return h
}

// ID is the harness's name in reports and file names: the driver and
// backend, such as "rabbit_RabbitMQ".
func (h Harness) ID() string {
	return fileSafe(h.Name + "_" + h.Backend)
}

func fileSafe(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			b[i] = '_'
		}
	}
	return string(b)
}

// FaultKind is a fault a FaultInjector can inject.
type FaultKind int

// Faults the scenarios tagged @needs-faults use.
const (
	// DropConnections closes the backend side of the connections now.
	DropConnections FaultKind = iota + 1
	// RefuseConnections refuses new connections until the fault ends.
	RefuseConnections
	// DropBeforePublish drops the connection when its next publish
	// arrives, before the backend has taken the message.
	DropBeforePublish
	// DropAfterPublish drops the connection after the backend has stored
	// its next publish but before confirming it.
	DropAfterPublish
	// DropAfterConfirm drops the connection right after confirming its
	// next publish.
	DropAfterConfirm
	// WithholdConfirms stores messages but confirms none until the fault
	// ends, then confirms what it withheld.
	WithholdConfirms
	// PauseDeliveries delivers nothing to listeners until the fault ends.
	PauseDeliveries
	// DuplicateReplies stores every message the driver publishes twice,
	// so each of its replies reaches the caller twice (C11).
	DuplicateReplies
)

// Fault is one fault to inject.
type Fault struct {
	Kind FaultKind
	// Driver scopes the fault to the connections of one driver opened
	// through the harness (the harness knows how it connected it); nil
	// means every connection.
	Driver drivers.Driver
}

// FaultInjector injects backend faults for the scenarios tagged
// @needs-faults (C14-C18, C20, C31).
type FaultInjector interface {
	// Inject starts f and returns a function that ends it; one-shot
	// faults (DropConnections) end by themselves and return a no-op.
	Inject(ctx context.Context, f Fault) (end func(), err error)
	// ConnectionAttempts is how many connections d has tried to open so
	// far, refused ones included.
	ConnectionAttempts(d drivers.Driver) int
}

// Observer shows the suite what travels through the backend, for the
// scenarios tagged @needs-tap.
type Observer interface {
	// TapNotifications records every message body the backend routes to
	// the notification address (exchange, address), where address is
	// "<topic>.<priority>" and an empty exchange is the default one.
	TapNotifications(ctx context.Context, exchange, address string) (Tap, error)
}

// Tap is a recording started by an Observer.
type Tap interface {
	// Next returns the next recorded body, waiting until one arrives or
	// ctx ends.
	Next(ctx context.Context) ([]byte, error)
	// Close stops the recording.
	Close() error
}

// PythonPeer is a Python oslo.messaging service on the harness's backend,
// for the interoperability scenarios (C35).
type PythonPeer interface {
	// Call makes an RPC call from Python. A Python exception comes back as
	// a *drivers.RemoteError with its class, module and message.
	Call(ctx context.Context, target drivers.Target, method string, args map[string]any, timeout time.Duration) (any, error)
	// Cast casts from Python (fanout when target.Fanout is set).
	Cast(ctx context.Context, target drivers.Target, method string, args map[string]any) error
	// Notify sends a notification from a Python notifier with the given
	// oslo notification driver ("messaging" or "messagingv2") to
	// "<target.Topic>.<priority>".
	Notify(ctx context.Context, driver string, target drivers.Target, priority, eventType string, payload any) error
	// Serve runs a Python RPC server on target whose endpoint answers
	// every method with its "value" argument, until stop is called.
	Serve(ctx context.Context, target drivers.Target) (stop func() error, err error)
}

// logf logs a note about a scenario under go test; outside it (Check) the
// note is dropped.
func (h *Harness) logf(ctx context.Context, format string, args ...any) {
	if !h.detached {
		godog.Logf(ctx, format, args...)
	}
}
