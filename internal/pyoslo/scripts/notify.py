# Python oslo.messaging 14 notifier/listener for the interop tests (any transport URL;
# the amqp driver has no pools: pass "-").
# usage: notify.py send URL TOPIC DRIVER PAYLOAD-JSON
#        notify.py listen URL TOPIC POOL COUNT   (POOL "-" for none)
import json
import sys
import threading

from oslo_config import cfg
import oslo_messaging as om

mode, url, topic = sys.argv[1:4]
cfg.CONF([], project="switchyard-interop")
_print_lock = threading.Lock()


def emit(line):
    # Endpoints run on several threads: one line at a time.
    with _print_lock:
        print(line, flush=True)
transport = om.get_notification_transport(cfg.CONF, url=url)

if mode == "send":
    driver, payload = sys.argv[4], json.loads(sys.argv[5])
    notifier = om.Notifier(transport, publisher_id="py.host", driver=driver, topics=[topic])
    notifier.info({"request_id": "req-py-notify"}, "py.event", payload)
    print("SENT", flush=True)
else:
    pool, count = sys.argv[4], int(sys.argv[5])
    got = []
    done = threading.Event()

    class Endpoint(object):
        def info(self, ctxt, publisher_id, event_type, payload, metadata):
            emit(json.dumps({"publisher_id": publisher_id, "event_type": event_type,
                             "payload": payload, "context": ctxt}))
            got.append(1)
            if len(got) >= count:
                done.set()

    listener = om.get_notification_listener(
        transport, [om.Target(topic=topic)], [Endpoint()], executor="threading",
        pool=None if pool == "-" else pool)
    listener.start()
    print("READY", flush=True)
    done.wait(60)
    listener.stop()
    listener.wait()
transport.cleanup()
