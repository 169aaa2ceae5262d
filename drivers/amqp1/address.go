package amqp1

import (
	"strings"

	"github.com/switchyard-dev/switchyard/drivers"
)

// Mode is an addressing mode: how targets become AMQP 1.0 addresses
// (WIRE.md §4.1).
type Mode string

// Addressing modes. Dynamic is resolved to Legacy or Routable once the
// peer's Open frame is known.
const (
	Dynamic  Mode = "dynamic"
	Legacy   Mode = "legacy"
	Routable Mode = "routable"
)

// legacyProduct is the product oslo assumes when the peer advertises none;
// it (and only it) selects legacy addressing in dynamic mode.
const legacyProduct = "qpid-cpp"

// ResolveMode returns the addressing mode used on a connection whose peer
// sent the given Open properties: configured is the addressing_mode
// option. In dynamic mode a peer whose "product" is absent or "qpid-cpp"
// gets legacy addressing and any other product (such as
// "qpid-dispatch-router") routable addressing, as oslo decides.
func ResolveMode(configured string, peerProperties map[string]any) Mode {
	switch Mode(configured) {
	case Legacy:
		return Legacy
	case Routable:
		return Routable
	}
	product := legacyProduct
	if v, ok := peerProperties["product"]; ok {
		switch p := v.(type) {
		case string:
			product = p
		case []byte:
			product = string(p)
		default:
			product = "" // something unknown: not qpid-cpp
		}
	}
	if product == legacyProduct {
		return Legacy
	}
	return Routable
}

// service tells RPC from notification traffic; routable addresses differ.
type service int

const (
	serviceRPC service = iota
	serviceNotify
)

// cast is how a message is distributed.
type cast int

const (
	anycast cast = iota
	unicast
	multicast
)

// addresser turns targets into addresses for one addressing mode.
type addresser struct {
	mode  Mode
	vhost string // empty unless pseudo_vhost puts it into addresses
	o     drivers.AMQPOptions
	// defaultExchange is [DEFAULT] control_exchange, or "openstack".
	defaultExchange string
}

func newAddresser(mode Mode, o drivers.AMQPOptions, controlExchange, vhost string) addresser {
	if !o.PseudoVhost {
		vhost = ""
	}
	if controlExchange == "" {
		controlExchange = "openstack"
	}
	return addresser{mode: mode, vhost: vhost, o: o, defaultExchange: controlExchange}
}

// castOf is oslo's resolution order: fanout → multicast, a server →
// unicast, otherwise anycast.
func castOf(t drivers.Target) cast {
	switch {
	case t.Fanout:
		return multicast
	case t.Server != "":
		return unicast
	}
	return anycast
}

// resolve returns the address a message to t goes to.
func (a addresser) resolve(t drivers.Target, s service) string {
	return a.address(t, s, castOf(t))
}

// address returns t's address for the given distribution.
func (a addresser) address(t drivers.Target, s service, c cast) string {
	if a.mode == Legacy {
		ex := t.Exchange
		if ex == "" {
			ex = a.defaultExchange
		}
		switch c {
		case multicast:
			return join(".", a.o.BroadcastPrefix, a.vhost, ex, t.Topic, "all")
		case unicast:
			return join(".", a.o.ServerRequestPrefix, a.vhost, ex, t.Topic, t.Server)
		}
		return join(".", a.o.GroupRequestPrefix, a.vhost, ex, t.Topic)
	}
	prefix, ex := a.o.RPCAddressPrefix, a.o.DefaultRPCExchange
	if s == serviceNotify {
		prefix, ex = a.o.NotifyAddressPrefix, a.o.DefaultNotificationExchange
	}
	if t.Exchange != "" {
		ex = t.Exchange
	} else if ex == "" {
		ex = a.defaultExchange
	}
	switch c {
	case multicast:
		return join("/", prefix+"/"+a.o.MulticastAddress, a.vhost, ex, t.Topic)
	case unicast:
		return join("/", prefix+"/"+a.o.UnicastAddress, a.vhost, ex, t.Topic, t.Server)
	}
	return join("/", prefix+"/"+a.o.AnycastAddress, a.vhost, ex, t.Topic)
}

// serverAddresses are what an RPC server subscribes to: the unicast,
// multicast and anycast addresses of its target, in oslo's order.
func (a addresser) serverAddresses(t drivers.Target) []string {
	out := []string{}
	if t.Server != "" {
		out = append(out, a.address(t, serviceRPC, unicast))
	}
	return append(out, a.address(t, serviceRPC, multicast), a.address(t, serviceRPC, anycast))
}

// notifyAddress is what a notification listener subscribes to for one
// (target, priority): the anycast notify address of "<topic>.<priority>".
// The listener's exchange is discarded, as oslo does.
func (a addresser) notifyAddress(tp drivers.TargetPriority) string {
	return a.address(drivers.Target{Exchange: tp.Target.Exchange, Topic: tp.Address()}, serviceNotify, anycast)
}

// join joins the non-empty items with sep, as oslo's _concat does.
func join(sep string, items ...string) string {
	kept := items[:0:0]
	for _, s := range items {
		if s != "" {
			kept = append(kept, s)
		}
	}
	return strings.Join(kept, sep)
}
