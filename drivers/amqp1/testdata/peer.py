# A small AMQP 1.0 peer on Python's proton for the driver's outcome tests:
# it settles each message by its address (the link's target), so the Go
# driver meets every outcome oslo's driver handles.
# usage: peer.py HOST:PORT
#   an address containing ...      the peer
#   release-N                      releases the first N messages, then accepts
#   modify-N                       modifies (not failed) the first N, then accepts
#   undeliverable                  modifies with delivery-failed and undeliverable-here
#   reject                         rejects
#   detach                         detaches the link instead of settling
#   refuse                         refuses to attach a link to it
#   requeue (a subscription)       sends one notification, again whenever
#                                  it is released; prints RELEASED/ACCEPTED
#   anything else                  accepts
# Receiver links asking for a dynamic source are refused, as RabbitMQ
# 3.10's AMQP 1.0 plugin does. Prints READY, then "CONN <json>" for every
# connection (container-id, hostname, properties, idle time-out) and
# "GOT <address> <n>" for every message it receives.
import json
import re
import sys

from proton import Condition, Delivery, Message
from proton.handlers import MessagingHandler
from proton.reactor import Container


# What a subscriber to an address containing "requeue" gets: one
# notification, delivered again each time it is released.
NOTIFICATION = json.dumps({
    "request": {"message_id": "m-requeue", "publisher_id": "peer", "event_type": "requeue.test",
                "priority": "INFO", "payload": {"n": 1}, "timestamp": "2026-01-01 00:00:00"},
    "context": {"request_id": "req-peer"}})


class Peer(MessagingHandler):
    def __init__(self, url):
        # Credit is granted by hand, so a refused link gets none.
        super(Peer, self).__init__(prefetch=0, auto_accept=False)
        self.url = url
        self.count = {}
        self.outbox = {}  # link -> bodies to send on it
        self.sent = {}  # delivery -> body

    def _send(self, link):
        q = self.outbox.get(link)
        while q and link.credit > 0:
            body = q.pop(0)
            self.sent[link.send(Message(body=body))] = body

    def on_start(self, event):
        event.container.listen(self.url)
        print("READY", flush=True)

    def on_connection_opening(self, event):
        c = event.connection
        props = dict((str(k), v) for k, v in (c.remote_properties or {}).items())
        print("CONN " + json.dumps({"container": c.remote_container, "hostname": c.remote_hostname,
                                    "properties": props,
                                    "idle_timeout": event.transport.remote_idle_timeout}), flush=True)

    def on_link_opening(self, event):
        link = event.link
        if link.is_sender:
            if link.remote_source.dynamic:
                return  # no address assigned; detached in on_link_opened
            link.source.address = link.remote_source.address
            if "requeue" in (link.source.address or ""):
                self.outbox[link] = [NOTIFICATION]
            return
        address = link.remote_target.address
        link.target.address = address
        if not (address and "refuse" in address):
            link.flow(100)

    def on_link_opened(self, event):
        # A refused address: attached without credit, then detached with
        # an error, as a router does with an address it will not serve.
        link = event.link
        if link.is_sender and link.remote_source.dynamic:
            link.condition = Condition("amqp:not-implemented", "dynamic sources are not supported")
            link.close()
        if link.is_receiver and "refuse" in (link.target.address or ""):
            link.condition = Condition("amqp:unauthorized-access", "address %s refused" % link.target.address)
            link.close()

    def on_sendable(self, event):
        self._send(event.link)

    def on_released(self, event):
        # Released (or modified): deliver the message again, as a broker
        # does.
        body = self.sent.pop(event.delivery, None)
        print("RELEASED", flush=True)
        if body is not None:
            self.outbox.setdefault(event.link, []).append(body)
            self._send(event.link)

    def on_accepted(self, event):
        self.sent.pop(event.delivery, None)
        print("ACCEPTED", flush=True)

    def on_message(self, event):
        address = event.link.target.address or event.message.address
        n = self.count[address] = self.count.get(address, 0) + 1
        print("GOT %s %d" % (address, n), flush=True)
        d = event.delivery
        if event.link.credit < 50:
            event.link.flow(100 - event.link.credit)
        m = re.search(r"(release|modify)-(\d+)", address)
        if m and n <= int(m.group(2)):
            self.release(d, delivered=(m.group(1) == "modify"))
        elif "undeliverable" in address:
            d.local.failed = True
            d.local.undeliverable = True
            d.update(Delivery.MODIFIED)
            d.settle()
        elif "reject" in address:
            self.reject(d)
        elif "detach" in address:
            event.link.condition = Condition("amqp:internal-error", "detached in mid-send")
            event.link.close()
        else:
            self.accept(d)


Container(Peer(sys.argv[1])).run()
