"""A scripted libzmq peer for the interop tests (pyzmq over the libzmq it bundles).

Reads one JSON document from standard input:
  type        socket type name ("DEALER", ...)
  bind / connect   endpoint
  options     libzmq socket options by name: routing_id (hex), heartbeat_ivl, heartbeat_ttl,
              heartbeat_timeout, handshake_ivl, maxmsgsize, curve_server, curve_secretkey,
              curve_publickey, curve_serverkey (Z85), plain_server, plain_username,
              plain_password, zap_domain, subscribe (list of hex prefixes)
  zap         optional ZAP handler on inproc://zeromq.zap.01: {"users": {name: password},
              "curve_keys": [z85, ...], "user_id": "...", "metadata": {name: value}}, or
              {"forward": endpoint}: a ROUTER-DEALER bridge from inproc://zeromq.zap.01 to an
              RFC 27 handler in another process
  monitor     print monitor events
  script      list of steps: {"op": "recv", "count": n, "skip": hex prefix (optional; messages
              whose first frame starts with it are dropped uncounted)} | {"op": "send", "frames": [hex, ...]}
              | {"op": "echo", "count": n} | {"op": "sleep", "ms": n}
              | {"op": "wait_event", "event": "HANDSHAKE_SUCCEEDED"}
Writes JSON lines: {"bound": endpoint}, {"recv": [hex...], "props": {...}}, {"event": name,
"value": n}, {"error": text}, and finally {"done": true}.
"""

import json
import sys
import threading
import time

import zmq
import zmq.utils.z85
from zmq.utils.monitor import recv_monitor_message

cfg = json.loads(sys.stdin.read())
out_lock = threading.Lock()


def emit(obj):
    with out_lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


EVENT_NAMES = {getattr(zmq, n): n[len("EVENT_"):] for n in dir(zmq) if n.startswith("EVENT_") and n != "EVENT_ALL"}

ctx = zmq.Context()
stop = threading.Event()


zap_bound = threading.Event()


def zap_handler(spec):
    sock = ctx.socket(zmq.REP)
    sock.linger = 0
    sock.bind("inproc://zeromq.zap.01")
    zap_bound.set()
    sock.rcvtimeo = 100
    while not stop.is_set():
        try:
            frames = sock.recv_multipart()
        except zmq.Again:
            continue
        try:
            reply = zap_decide(spec, frames)
        except Exception as exc:
            emit({"zap_error": repr(exc)})
            reply = [b"1.0", frames[1] if len(frames) > 1 else b"", b"500", repr(exc).encode()[:200], b"", b""]
        sock.send_multipart(reply)
    sock.close()


def zap_decide(spec, frames):
    users = spec.get("users", {})
    keys = set(spec.get("curve_keys", []))
    version, request_id, domain, address, identity, mechanism = frames[:6]
    creds = frames[6:]
    ok, user = False, ""
    if mechanism == b"PLAIN" and len(creds) == 2:
        name, password = creds[0].decode(), creds[1].decode()
        ok = users.get(name) == password
        user = name
    elif mechanism == b"CURVE" and len(creds) == 1:
        key = zmq.utils.z85.encode(creds[0]).decode()
        ok = key in keys
        user = key
    elif mechanism == b"NULL":
        ok, user = True, "anonymous"
    user = spec.get("user_id", user) if ok else ""
    meta = b""
    for name, value in spec.get("metadata", {}).items():
        n, v = name.encode(), value.encode()
        meta += bytes([len(n)]) + n + len(v).to_bytes(4, "big") + v
    emit({"zap": mechanism.decode(), "ok": ok, "domain": domain.decode(), "address": address.decode()})
    return [version, request_id, b"200" if ok else b"400", b"OK" if ok else b"denied", user.encode(), meta]


def zap_forward(endpoint):
    front = ctx.socket(zmq.ROUTER)
    front.linger = 0
    front.bind("inproc://zeromq.zap.01")
    zap_bound.set()
    back = ctx.socket(zmq.DEALER)
    back.linger = 0
    back.connect(endpoint)
    poller = zmq.Poller()
    poller.register(front, zmq.POLLIN)
    poller.register(back, zmq.POLLIN)
    while not stop.is_set():
        for ready, _ in poller.poll(100):
            if ready is front:
                back.send_multipart(front.recv_multipart())
            else:
                front.send_multipart(back.recv_multipart())
    front.close()
    back.close()


if "zap" in cfg:
    if "forward" in cfg["zap"]:
        target, args = zap_forward, (cfg["zap"]["forward"],)
    else:
        target, args = zap_handler, (cfg["zap"],)
    threading.Thread(target=target, args=args, daemon=True).start()
    # libzmq servers look for the handler when a handshake needs it: bound before any socket.
    if not zap_bound.wait(10):
        emit({"error": "the ZAP thread did not bind"})

sock = ctx.socket(getattr(zmq, cfg["type"]))
sock.linger = 1000
opts = cfg.get("options", {})
for name, value in opts.items():
    if name == "subscribe":
        for prefix in value:
            sock.setsockopt(zmq.SUBSCRIBE, bytes.fromhex(prefix))
        continue
    option = getattr(zmq, name.upper())
    if name == "routing_id":
        value = bytes.fromhex(value)
    elif isinstance(value, str):
        value = value.encode()
    elif isinstance(value, bool):
        value = int(value)
    sock.setsockopt(option, value)

events = []
event_cond = threading.Condition()
if cfg.get("monitor"):
    mon = sock.get_monitor_socket()

    def watch():
        while not stop.is_set():
            if mon.poll(100):
                ev = recv_monitor_message(mon)
                name = EVENT_NAMES.get(ev["event"], str(ev["event"]))
                emit({"event": name, "value": ev["value"]})
                with event_cond:
                    events.append(name)
                    event_cond.notify_all()
        mon.close(linger=0)

    threading.Thread(target=watch, daemon=True).start()

if "bind" in cfg:
    sock.bind(cfg["bind"])
    emit({"bound": sock.getsockopt(zmq.LAST_ENDPOINT).decode()})
if "connect" in cfg:
    sock.connect(cfg["connect"])
sock.rcvtimeo = cfg.get("timeout_ms", 10000)
sock.sndtimeo = cfg.get("timeout_ms", 10000)


def props(frame):
    result = {}
    for name in ("Socket-Type", "Identity", "User-Id", "Peer-Address", "Hello"):
        try:
            result[name] = frame.get(name)
        except (zmq.ZMQError, UnicodeDecodeError):
            pass
    return result


try:
    for step in cfg.get("script", []):
        op = step["op"]
        if op in ("recv", "echo"):
            skip = bytes.fromhex(step["skip"]) if "skip" in step else None
            received = 0
            while received < step.get("count", 1):
                frames = sock.recv_multipart(copy=False)
                if skip is not None and frames[0].bytes.startswith(skip):
                    continue
                received += 1
                emit({"recv": [f.bytes.hex() for f in frames], "props": props(frames[-1])})
                if op == "echo":
                    sock.send_multipart([f.bytes for f in frames])
        elif op == "send":
            sock.send_multipart([bytes.fromhex(f) for f in step["frames"]])
        elif op == "sleep":
            time.sleep(step["ms"] / 1000)
        elif op == "wait_event":
            deadline = time.time() + 10
            with event_cond:
                while step["event"] not in events and time.time() < deadline:
                    event_cond.wait(0.1)
            if step["event"] not in events:
                raise RuntimeError("no event " + step["event"])
except Exception as exc:  # report, never hang
    emit({"error": repr(exc)})
finally:
    time.sleep(cfg.get("linger_ms", 200) / 1000)
    stop.set()
    emit({"done": True})
    sock.close(linger=0)
    time.sleep(0.15)  # the monitor and ZAP threads notice `stop` and close their sockets
    ctx.destroy(linger=0)
