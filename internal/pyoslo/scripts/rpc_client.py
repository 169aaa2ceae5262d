# Python oslo.messaging 14 RPC client for the interop tests (any transport URL).
# usage: rpc_client.py URL TOPIC SERVER
# Calls and casts a Go server, prints one JSON object with the results.
import json
import sys

from oslo_config import cfg
import oslo_messaging as om

url, topic, server = sys.argv[1:4]
cfg.CONF([], project="switchyard-interop")
transport = om.get_rpc_transport(cfg.CONF, url=url)
client = om.get_rpc_client(transport, om.Target(topic=topic), timeout=15)
ctxt = {"request_id": "req-py", "user_id": "u-py"}
out = {}
out["echo"] = client.call(ctxt, "echo", text="h\u00e9llo \u2603", n=3, nested={"a": [1, 2, None]})
out["echo_server"] = client.prepare(server=server).call(ctxt, "echo", via="server")
out["null"] = client.call(ctxt, "echo", value=None)
client.cast(ctxt, "echo", kind="cast-topic")
client.prepare(server=server).cast(ctxt, "echo", kind="cast-server")
client.prepare(fanout=True).cast(ctxt, "echo", kind="cast-fanout")
try:
    client.call(ctxt, "fail", message="bad value")
    out["fail"] = None
except Exception as e:
    out["fail"] = {"type": type(e).__name__, "module": type(e).__module__,
                   "is_remote_error": isinstance(e, om.RemoteError),
                   "message": str(e).split("\n")[0]}
try:
    client.call(ctxt, "fail_custom", message="custom")
    out["fail_custom"] = None
except om.RemoteError as e:
    out["fail_custom"] = {"exc_type": e.exc_type, "value": e.value}
out["sleep"] = client.prepare(timeout=20, call_monitor_timeout=2).call(ctxt, "sleep", seconds=4)
try:
    client.prepare(timeout=1).call(ctxt, "sleep", seconds=3)
    out["short_timeout"] = "no timeout"
except om.MessagingTimeout:
    out["short_timeout"] = "MessagingTimeout"
print(json.dumps(out), flush=True)
transport.cleanup()
