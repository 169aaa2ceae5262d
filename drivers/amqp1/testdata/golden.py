# Decodes AMQP 1.0 messages encoded by the Go driver with Python's proton
# (the library oslo.messaging 14's amqp driver uses) and sets each beside
# the message Python oslo.messaging sent in the same situation, taken from
# a wire capture line.
# stdin: {"pairs": [{"capture": "MSG link_target=... body=...", "hex": "..."}]}
# ("hex" may be empty: then only the capture line is decoded)
# stdout: [{"capture": {...}, "go": {...}}] with every field as its repr,
#         and the body decoded from JSON (top-level keys in order).
import ast
import json
import re
import sys

import proton

FIELDS = ["to", "reply_to", "id", "corr", "subject", "ttl", "durable",
          "priority", "content_type", "app_props", "annotations"]
LINE = re.compile(r"MSG link_target=(.*?) " +
                  " ".join(f + r"=(.*?)" for f in FIELDS) + r" body=(.*)$")


def body_of(text):
    if text is None:
        return {"null": True}
    if not isinstance(text, str):
        return {"not_str": repr(text)}
    data = json.loads(text)
    return {"keys": list(data.keys()), "value": data,
            "request_text": json.dumps(data.get("request")),
            "text": text}


def from_capture(line):
    m = LINE.match(line)
    if not m:
        raise SystemExit("unparsable capture line: " + line)
    out = dict(zip(FIELDS, m.groups()[1:-1]))
    out["body"] = body_of(ast.literal_eval(m.groups()[-1]))
    return out


def from_go(hexdata):
    msg = proton.Message()
    msg.decode(bytes.fromhex(hexdata))
    out = {
        "to": repr(msg.address), "reply_to": repr(msg.reply_to),
        "id": repr(msg.id), "corr": repr(msg.correlation_id),
        "subject": repr(msg.subject), "ttl": repr(msg.ttl),
        "durable": repr(msg.durable), "priority": repr(msg.priority),
        "content_type": repr(msg.content_type),
        "app_props": repr(msg.properties),
        "annotations": repr(msg.annotations),
    }
    out["body"] = body_of(msg.body)
    return out


pairs = json.load(sys.stdin)["pairs"]
print(json.dumps([{"capture": from_capture(p["capture"]),
                   "go": from_go(p["hex"]) if p.get("hex") else None}
                  for p in pairs]))
