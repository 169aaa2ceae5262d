package pyoslo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
)

// Peer is Python oslo.messaging 14 on a transport URL: each call, cast and
// notification runs one short Python process; Serve runs a Python RPC
// server until stopped. Its methods fit contract.PythonPeer.
type Peer struct {
	URL string
}

// peerScript performs one operation described by the JSON on stdin and
// prints one JSON object; for "serve" it prints READY and serves until
// stdin closes.
const peerScript = `
import json, os, sys
from oslo_config import cfg
import oslo_messaging as om

req = json.load(sys.stdin) if sys.argv[1:] != ["serve"] else json.loads(sys.stdin.readline())
cfg.CONF([], project="switchyard-peer")
t = req["target"]
exchange = t.get("exchange") or None
out = {}
op = req["op"]
if op in ("call", "cast"):
    tr = om.get_rpc_transport(cfg.CONF, url=req["url"])
    client = om.get_rpc_client(tr, om.Target(exchange=exchange, topic=t["topic"]), timeout=req.get("timeout") or 30)
    cl = client.prepare(server=t.get("server") or None, fanout=bool(t.get("fanout")))
    try:
        if op == "call":
            out["result"] = cl.call({"request_id": "req-python-peer"}, req["method"], **req["args"])
        else:
            cl.cast({"request_id": "req-python-peer"}, req["method"], **req["args"])
            out["result"] = None
    except om.MessagingTimeout as e:
        out["error"] = {"kind": "timeout", "message": str(e)}
    except om.RemoteError as e:
        out["error"] = {"kind": "remote", "class": e.exc_type, "module": "", "message": e.value}
    except om.MessageDeliveryFailure as e:
        out["error"] = {"kind": "delivery", "message": str(e)}
    except Exception as e:
        out["error"] = {"kind": "remote", "class": type(e).__name__, "module": type(e).__module__,
                        "message": str(e).split("\n")[0]}
elif op == "notify":
    tr = om.get_notification_transport(cfg.CONF, url=req["url"])
    n = om.Notifier(tr, publisher_id="python.peer", driver=req["driver"], topics=[t["topic"]])
    getattr(n, req["priority"].lower())({"request_id": "req-python-peer"}, req["event_type"], req["payload"])
elif op == "serve":
    class Endpoint(object):
        def __getattr__(self, name):
            if name.startswith("_") or name == "target":
                raise AttributeError(name)
            return lambda ctxt, **kw: kw.get("value")
    tr = om.get_rpc_transport(cfg.CONF, url=req["url"])
    srv = om.get_rpc_server(tr, om.Target(exchange=exchange, topic=t["topic"], server=t.get("server") or "python"),
                            [Endpoint()], executor="threading")
    srv.start()
    print("READY", flush=True)
    sys.stdin.read()
    os._exit(0)  # stdin closed: stop at once; the broker requeues nothing (requests are acked)
if req["url"].startswith("amqp") and op != "call":
    # The amqp driver pre-settles casts: sent only once its I/O thread has
    # written them. A clean shutdown of the transport flushes them.
    tr.cleanup()
print(json.dumps(out), flush=True)
# With rabbit the message is with the broker (publisher confirms); oslo's
# cleanup would only wait for its threads, for seconds.
os._exit(0)
`

func targetJSON(t drivers.Target) map[string]any {
	return map[string]any{"exchange": t.Exchange, "topic": t.Topic, "server": t.Server, "fanout": t.Fanout}
}

// run executes one operation and decodes its answer.
func (p Peer) run(ctx context.Context, req map[string]any) (map[string]any, error) {
	if _, err := Version(); err != nil {
		return nil, err
	}
	req["url"] = p.URL
	in, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, Python, "-c", peerScript)
	cmd.Stdin = bytes.NewReader(in)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "PYTHONIOENCODING=utf-8")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, errors.Join(ctx.Err(), err)
		}
		return nil, fmt.Errorf("python peer failed: %v: %s", err, lastLines(stderr.String(), 5))
	}
	var out map[string]any
	dec := json.NewDecoder(&stdout)
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("python peer printed no JSON: %v: %s", err, lastLines(stderr.String(), 5))
	}
	if e, ok := out["error"].(map[string]any); ok {
		msg, _ := e["message"].(string)
		switch e["kind"] {
		case "timeout":
			return nil, &drivers.TimeoutError{Op: "python call", Reason: msg}
		case "delivery":
			return nil, &drivers.DeliveryError{Err: errors.New(msg)}
		}
		re := &drivers.RemoteError{Message: msg}
		re.Class, _ = e["class"].(string)
		re.Module, _ = e["module"].(string)
		return nil, re
	}
	return out, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// Call makes an RPC call from Python; a Python exception comes back as a
// *drivers.RemoteError, a MessagingTimeout as a drivers.ErrTimeout.
func (p Peer) Call(ctx context.Context, target drivers.Target, method string, args map[string]any, timeout time.Duration) (any, error) {
	out, err := p.run(ctx, map[string]any{"op": "call", "target": targetJSON(target), "method": method, "args": args,
		"timeout": max(timeout.Seconds(), 1)})
	if err != nil {
		return nil, err
	}
	return out["result"], nil
}

// Cast casts from Python (fanout when target.Fanout is set).
func (p Peer) Cast(ctx context.Context, target drivers.Target, method string, args map[string]any) error {
	_, err := p.run(ctx, map[string]any{"op": "cast", "target": targetJSON(target), "method": method, "args": args})
	return err
}

// Notify sends one notification from a Python notifier with the oslo
// notification driver ("messaging" or "messagingv2") to
// "<target.Topic>.<priority>".
func (p Peer) Notify(ctx context.Context, driver string, target drivers.Target, priority, eventType string, payload any) error {
	_, err := p.run(ctx, map[string]any{"op": "notify", "target": targetJSON(target), "driver": driver,
		"priority": priority, "event_type": eventType, "payload": payload})
	return err
}

// Serve runs a Python RPC server on target whose endpoint answers every
// method with its "value" argument, until stop is called.
func (p Peer) Serve(ctx context.Context, target drivers.Target) (stop func() error, err error) {
	if _, err := Version(); err != nil {
		return nil, err
	}
	req, err := json.Marshal(map[string]any{"op": "serve", "url": p.URL, "target": targetJSON(target)})
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(Python, "-c", peerScript, "serve")
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "PYTHONIOENCODING=utf-8")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop = func() error {
		_ = stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			return <-done
		}
	}
	if _, err := stdin.Write(append(req, '\n')); err != nil {
		_ = stop()
		return nil, err
	}
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil && strings.TrimSpace(line) != "READY" {
			err = fmt.Errorf("python server printed %q", line)
		}
		ready <- err
		_, _ = io.Copy(io.Discard, stdout) // until the process ends
	}()
	select {
	case err := <-ready:
		if err != nil {
			_ = stop()
			return nil, fmt.Errorf("python server did not start: %v: %s", err, lastLines(stderr.String(), 5))
		}
		return stop, nil
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		_ = stop()
		return nil, ctx.Err()
	}
}
