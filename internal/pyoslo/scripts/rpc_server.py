# Python oslo.messaging 14 RPC server for the interop tests (any transport URL).
# usage: rpc_server.py URL TOPIC SERVER
# Prints READY once serving, then one JSON line per request it receives.
import json
import sys
import threading
import time

from oslo_config import cfg
import oslo_messaging as om

url, topic, server = sys.argv[1:4]
cfg.CONF([], project="switchyard-interop")
_print_lock = threading.Lock()


def emit(line):
    # Endpoints run on several threads: one line at a time.
    with _print_lock:
        print(line, flush=True)


def record(method, ctxt, **kwargs):
    emit(json.dumps({"method": method, "args": kwargs, "context": ctxt}))


class Endpoint(object):
    def echo(self, ctxt, **kwargs):
        record("echo", ctxt, **kwargs)
        return kwargs

    def fail(self, ctxt, message):
        record("fail", ctxt, message=message)
        raise ValueError(message)

    def sleep(self, ctxt, seconds):
        record("sleep", ctxt, seconds=seconds)
        time.sleep(seconds)
        return {"slept": seconds}


transport = om.get_rpc_transport(cfg.CONF, url=url)
srv = om.get_rpc_server(transport, om.Target(topic=topic, server=server),
                        [Endpoint()], executor="threading")
srv.start()
print("READY", flush=True)
try:
    sys.stdin.read()  # until the test closes stdin or kills us
finally:
    srv.stop()
    srv.wait()
    transport.cleanup()
