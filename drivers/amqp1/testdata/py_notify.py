# Python oslo.messaging 14 notifier/listener (amqp:// driver) for the
# interop tests. The amqp driver has no listener pools.
# usage: py_notify.py send URL TOPIC DRIVER PAYLOAD-JSON
#        py_notify.py listen URL TOPIC COUNT
import json
import sys
import threading

from oslo_config import cfg
import oslo_messaging as om

mode, url, topic = sys.argv[1:4]
cfg.CONF([], project="switchyard-interop")
transport = om.get_notification_transport(cfg.CONF, url=url)

if mode == "send":
    driver, payload = sys.argv[4], json.loads(sys.argv[5])
    notifier = om.Notifier(transport, publisher_id="py.host", driver=driver, topics=[topic])
    notifier.info({"request_id": "req-py-notify"}, "py.event", payload)
    print("SENT", flush=True)
else:
    count = int(sys.argv[4])
    got = []
    lock = threading.Lock()
    done = threading.Event()

    class Endpoint(object):
        def info(self, ctxt, publisher_id, event_type, payload, metadata):
            line = json.dumps({"publisher_id": publisher_id, "event_type": event_type,
                               "payload": payload, "context": ctxt}) + "\n"
            with lock:
                sys.stdout.write(line)
                sys.stdout.flush()
            got.append(1)
            if len(got) >= count:
                done.set()

    listener = om.get_notification_listener(
        transport, [om.Target(topic=topic)], [Endpoint()], executor="threading")
    listener.start()
    print("READY", flush=True)
    done.wait(60)
    listener.stop()
    listener.wait()
transport.cleanup()
