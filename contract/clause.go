package contract

import (
	"fmt"
	"strconv"
	"strings"
)

// Clause names a clause of CONTRACT.md, such as "C07".
type Clause string

// Scope says which backends a clause applies to.
type Scope int

// Scopes of clauses.
const (
	// AllBackends marks a clause that holds on every backend.
	AllBackends Scope = iota
	// BrokerOnly marks a clause marked [broker] in CONTRACT.md.
	BrokerOnly
	// RouterOnly marks a clause marked [router] in CONTRACT.md.
	RouterOnly
)

// ClauseInfo describes one clause for reports.
type ClauseInfo struct {
	Clause Clause
	Area   string // the CONTRACT.md section, such as "RPC"
	Title  string // a one-line summary
	Scope  Scope
}

// Clauses lists every clause of CONTRACT.md in order.
var Clauses = []ClauseInfo{
	{"C01", "Addressing", "a listener gets its exchange and topic only", AllBackends},
	{"C02", "Addressing", "a server-addressed message reaches that server only", AllBackends},
	{"C03", "Addressing", "fanout reaches every listener exactly once", AllBackends},
	{"C04", "Addressing", "without fanout one listener each, balanced", AllBackends},
	{"C05", "Addressing", "Listen returns with its subscriptions in place", AllBackends},
	{"C06", "RPC", "a call returns exactly the server's reply", AllBackends},
	{"C07", "RPC", "concurrent calls get their own replies", AllBackends},
	{"C08", "RPC", "call timeout bounds; late replies discarded", AllBackends},
	{"C09", "RPC", "a cast returns once accepted, no reply", AllBackends},
	{"C10", "RPC", "server failures arrive as remote errors", AllBackends},
	{"C11", "RPC", "a reply is seen at most once", AllBackends},
	{"C12", "RPC", "call monitor and heartbeats", AllBackends},
	{"C13", "RPC", "a call to nobody fails within its timeout", AllBackends},
	{"C14", "Retry and failure", "retry 0 fails promptly", AllBackends},
	{"C15", "Retry and failure", "retry N and unlimited retry", AllBackends},
	{"C16", "Retry and failure", "retry never duplicates", AllBackends},
	{"C17", "Retry and failure", "nothing acknowledged is lost; mandatory", BrokerOnly},
	{"C18", "Retry and failure", "failover restores listeners and senders", AllBackends},
	{"C19", "Retry and failure", "bad input gives typed errors promptly", AllBackends},
	{"C20", "Acknowledgement", "a send returns once the broker stored it", BrokerOnly},
	{"C21", "Acknowledgement", "a send returns once the listener accepted it", RouterOnly},
	{"C22", "Notifications", "notification priorities and addresses", AllBackends},
	{"C23", "Notifications", "notifications are stored until a listener comes", BrokerOnly},
	{"C24", "Notifications", "no consumer: delivered later or failed", RouterOnly},
	{"C25", "Notifications", "pools get one copy each, balanced within", AllBackends},
	{"C26", "Notifications", "envelope 1.0 and 2.0 decode the same", AllBackends},
	{"C27", "Listeners", "batch size and batch timeout", AllBackends},
	{"C28", "Listeners", "stop and cleanup", AllBackends},
	{"C29", "Listeners", "acknowledged never redelivered; unacked redelivered", AllBackends},
	{"C30", "Listeners", "requeue is optional and redelivers", AllBackends},
	{"C31", "Listeners", "prefetch bounds unacknowledged messages", AllBackends},
	{"C32", "Listeners", "one sender, one listener: send order", AllBackends},
	{"C33", "Lifecycle", "close releases everything; later calls fail closed", AllBackends},
	{"C34", "Lifecycle", "every blocking call honours its context", AllBackends},
	{"C35", "Interoperability", "wire compatible with Python oslo.messaging", AllBackends},
}

// Info returns the description of c, and false if c is not a clause.
func (c Clause) Info() (ClauseInfo, bool) {
	for _, ci := range Clauses {
		if ci.Clause == c {
			return ci, true
		}
	}
	return ClauseInfo{}, false
}

// ParseClauseTag returns the clause a scenario tag names ("@C07" or "C07"),
// and false for any other tag.
func ParseClauseTag(tag string) (Clause, bool) {
	s := strings.TrimPrefix(tag, "@")
	if len(s) != 3 || s[0] != 'C' {
		return "", false
	}
	n, err := strconv.Atoi(s[1:])
	if err != nil || n < 1 {
		return "", false
	}
	c := Clause(fmt.Sprintf("C%02d", n))
	if _, ok := c.Info(); !ok {
		return "", false
	}
	return c, true
}
