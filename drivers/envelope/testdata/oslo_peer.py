# Reference peer for the envelope interop test: Python oslo.messaging 14
# decodes what Go produced and produces messages for Go to decode.
import json
import sys

import oslo_messaging
from oslo_messaging._drivers import common

req = json.load(sys.stdin)
out = {"decoded": [], "failures": [], "python": {}}

for body in req["bodies"]:
    raw = common.deserialize_msg(json.loads(body))
    ctx = {k[len("_context_"):]: raw.pop(k) for k in list(raw) if k.startswith("_context_")}
    meta = {k: raw.pop(k, None) for k in ("_msg_id", "_reply_q", "_timeout", "_unique_id")}
    out["decoded"].append({"message": raw, "context": ctx, "meta": meta})

for f in req["failures"]:
    exc = common.deserialize_remote_exception(f["data"], f["allowed"] or [])
    out["failures"].append({
        "type": type(exc).__name__,
        "module": type(exc).__module__,
        "str": str(exc),
        "is_remote_error": isinstance(exc, oslo_messaging.RemoteError),
        "exc_type": getattr(exc, "exc_type", None),
        "value": getattr(exc, "value", None),
        "reserialized": common.serialize_remote_exception((type(exc), exc, None)),
    })

# Python-made messages, built in the key order Switchyard writes so the
# bytes can be compared too.
call = {
    "method": "echo",
    "args": {"big": 2 ** 70, "f": 1.5, "nested": {"a": [1, 2, None]}, "text": "h\u00e9llo \u2603 \U0001d11e"},
    "version": "1.0",
    "_msg_id": "e4b9361c5d254b5aaddc9f62792b1212",
    "_reply_q": "reply_75b2f58fb5164a78be0b32c903f88626",
    "_timeout": 2,
    "_unique_id": "96486ad120ca46d6b1ad512e74f04ede",
    "_context_is_admin": False,
    "_context_project_id": "p1",
    "_context_request_id": "req-1",
}
out["python"]["call"] = json.dumps(common.serialize_msg(call))


class Custom(Exception):
    def __init__(self, msg, code):
        super().__init__(msg)
        self.kwargs = {"code": code}


for name, exc in (("value_error", ValueError("bad value", 42)), ("custom", Custom("it broke", 7))):
    try:
        raise exc
    except Exception:
        out["python"][name] = common.serialize_remote_exception(sys.exc_info())

json.dump(out, sys.stdout)
