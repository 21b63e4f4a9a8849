"""An interop peer on azmq 1.0.6, a pure-Python asyncio ZMTP stack (NULL, PLAIN, CURVE through
pysodium), speaking the protocol of tests/interop/STACKS.md: one JSON document on stdin, JSON lines
on stdout. `python azmq_peer.py --check` only imports azmq (with the fixes below) and reports
whether CURVE is available; scripts/setup-azmq runs it. AZMQ_PEER_DEBUG=1 turns on azmq's debug
log (stderr).

azmq 1.0.6 was written for Python 3.5 and does not run on 3.11 as published. The fixes, all made
here at start-up and none of them changing what azmq puts on the wire:

1. azmq/socket.py does not compile since Python 3.8: `Socket.unregister_connection` passes an
   unparenthesized generator with a trailing comma to `next(...)` ("Generator expression must be
   parenthesized"). An import hook loads that one module from its source with the comma removed
   (the one occurrence is checked, so another azmq version fails loudly), compiled in memory and
   never written to a bytecode cache, so a plain `import azmq` elsewhere still sees the original.
2. azmq passes `loop=` to asyncio.Event, Lock, Queue, sleep, wait, wait_for, gather, shield,
   open_connection and start_server; Python 3.10 removed that parameter. The wrappers installed
   on the asyncio module drop it. Everything runs on the one loop of `asyncio.run`, which is the
   loop azmq passes, so dropping it changes nothing.
3. azmq takes its read lock with `with await lock:`, which Python 3.9 removed; the Lock wrapper's
   `__await__` acquires and returns a context manager that releases it, as Python 3.8's did.

The peer also wraps asyncio.start_server to learn when azmq's listening socket is up (azmq's
`bind` returns before it is, and only logs a failure): `bound` is reported after that.
azmq has no linger: at the end the peer waits up to one second for the outgoing queues and the
transports' write buffers to drain before closing. azmq's ZAP handler (`ZAPAuthenticator`) is the
PLAIN server's check and, given `clients`, the CURVE server's; a CURVE server without `clients` has
no ZAP handler, which azmq takes as admitting every client.
"""

import asyncio
import functools
import importlib.abc
import importlib.machinery
import json
import logging
import os
import sys
import time

# --- Python 3.11 compatibility (see the docstring) -------------------------------------------


def _drop_loop(fn):
    @functools.wraps(fn)
    def wrapper(*args, loop=None, **kwargs):
        return fn(*args, **kwargs)

    return wrapper


class _Event(asyncio.Event):
    def __init__(self, *, loop=None):
        super().__init__()


class _Queue(asyncio.Queue):
    def __init__(self, maxsize=0, *, loop=None):
        super().__init__(maxsize)


class _Releaser:
    def __init__(self, lock):
        self._lock = lock

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        self._lock.release()


class _Lock(asyncio.Lock):
    def __init__(self, *, loop=None):
        super().__init__()

    def __await__(self):
        yield from self.acquire().__await__()
        return _Releaser(self)


LISTENING = {}  # (host, port) -> None once listening, or the exception that stopped it
_listen_changed = None  # an asyncio.Event, made on the loop


def _install_asyncio_shims():
    for name in ("sleep", "wait", "wait_for", "gather", "shield", "open_connection"):
        setattr(asyncio, name, _drop_loop(getattr(asyncio, name)))
    asyncio.Event, asyncio.Queue, asyncio.Lock = _Event, _Queue, _Lock
    start_server = asyncio.start_server

    async def start_server_watched(*args, loop=None, host=None, port=None, **kwargs):
        try:
            server = await start_server(*args, host=host, port=port, **kwargs)
        except Exception as exc:
            LISTENING[(host, port)] = exc
            raise
        finally:
            if _listen_changed is not None:
                _listen_changed.set()
        LISTENING[(host, port)] = None
        return server

    asyncio.start_server = start_server_watched


_BROKEN = "p for p in self._peers if p.connection is connection,\n"
_FIXED = "p for p in self._peers if p.connection is connection\n"


class _SocketModuleLoader(importlib.abc.Loader):
    def __init__(self, path):
        self.path = path

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        with open(self.path, encoding="utf-8") as f:
            source = f.read()
        if source.count(_BROKEN) != 1:
            raise ImportError("azmq/socket.py is not the 1.0.6 source this peer fixes")
        code = compile(source.replace(_BROKEN, _FIXED), self.path, "exec", dont_inherit=True)
        exec(code, module.__dict__)


class _SocketModuleFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != "azmq.socket":
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not spec.origin:
            return None
        spec.loader = _SocketModuleLoader(spec.origin)
        return spec


_install_asyncio_shims()
sys.meta_path.insert(0, _SocketModuleFinder())

try:
    import azmq
    import azmq.crypto
    from azmq.mechanisms import CurveClient, CurveServer, Null, PlainClient, PlainServer
    from azmq.zap import ZAPAuthenticator
except Exception as exc:  # noqa: BLE001 (reported on the protocol, then the peer exits)
    sys.stdout.write(json.dumps({"error": "azmq does not import: %r" % exc}) + "\n")
    sys.exit(1)

# --- Z85 (RFC 32) -----------------------------------------------------------------------------

_Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
_Z85_INDEX = {c: i for i, c in enumerate(_Z85)}


def z85_decode(text):
    if len(text) % 5:
        raise ValueError("Z85 text length is not a multiple of 5")
    out = bytearray()
    for i in range(0, len(text), 5):
        value = 0
        for c in text[i:i + 5]:
            value = value * 85 + _Z85_INDEX[c]
        out += value.to_bytes(4, "big")
    return bytes(out)


# --- the peer ---------------------------------------------------------------------------------


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def diag(text):
    sys.stderr.write("azmq_peer: %s\n" % text)
    sys.stderr.flush()


def mechanism_of(ctx, spec):
    name = spec.get("name", "NULL")
    if name == "NULL":
        return Null()
    if name == "PLAIN":
        if spec.get("server"):
            auth = ZAPAuthenticator(context=ctx)
            for user, password in spec.get("users", {}).items():
                auth.add_user(user, password)
            ctx.set_zap_authenticator(auth)
            return PlainServer()
        return PlainClient(username=spec["username"], password=spec["password"])
    if name == "CURVE":
        public = z85_decode(spec["public_key"])
        secret = z85_decode(spec["secret_key"])
        if spec.get("server"):
            if "clients" in spec:
                auth = ZAPAuthenticator(context=ctx)
                for key in spec["clients"]:
                    auth.add_authorized_key(z85_decode(key))
                ctx.set_zap_authenticator(auth)
            return CurveServer(public_key=public, secret_key=secret)
        return CurveClient(
            server_key=z85_decode(spec["server_key"]), public_key=public, secret_key=secret
        )
    raise ValueError("unknown mechanism %r" % name)


async def wait_listening(host, port, timeout):
    deadline = time.monotonic() + timeout
    while (host, port) not in LISTENING:
        _listen_changed.clear()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("azmq did not start listening on %s:%s" % (host, port))
        try:
            await asyncio.wait_for(_listen_changed.wait(), remaining)
        except asyncio.TimeoutError:
            pass
    failure = LISTENING[(host, port)]
    if failure is not None:
        raise failure


def drained(sock):
    for peer in list(sock._peers):
        if not peer.outbox.empty():
            return False
        writer = getattr(peer.connection, "writer", None)
        transport = getattr(writer, "transport", None)
        if transport is not None and transport.get_write_buffer_size():
            return False
    return True


async def run(cfg):
    global _listen_changed
    _listen_changed = asyncio.Event()
    timeout = cfg.get("timeout_ms", 10000) / 1000
    ctx = azmq.Context()
    sock = None
    try:
        mechanism = mechanism_of(ctx, cfg.get("mechanism", {"name": "NULL"}))
        socket_type = cfg["type"].encode()
        sock = ctx.socket(socket_type, mechanism=mechanism)
        if "bind" in cfg:
            from urllib.parse import urlsplit

            url = urlsplit(cfg["bind"])
            sock.bind(cfg["bind"])
            if url.scheme == "tcp":
                await wait_listening(url.hostname, url.port, timeout)
            emit({"bound": cfg["bind"]})
        if "connect" in cfg:
            sock.connect(cfg["connect"])
        if socket_type in (b"SUB", b"XSUB"):
            for prefix in cfg.get("subscribe", []):
                await sock.subscribe(bytes.fromhex(prefix))
        emit({"ready": True})
        for step in cfg.get("script", []):
            op = step["op"]
            if op in ("recv", "echo"):
                skip = bytes.fromhex(step["skip"]) if step.get("skip") is not None else None
                count = 0
                while count < step.get("count", 1):
                    try:
                        frames = await asyncio.wait_for(sock.recv_multipart(), timeout)
                    except asyncio.TimeoutError:
                        raise TimeoutError("no message within %s ms" % cfg.get("timeout_ms", 10000))
                    if skip is not None and frames and frames[0].startswith(skip):
                        continue
                    count += 1
                    emit({"recv": [f.hex() for f in frames]})
                    if op == "echo":
                        await asyncio.wait_for(sock.send_multipart(list(frames)), timeout)
            elif op == "send":
                frames = [bytes.fromhex(f) for f in step["frames"]]
                try:
                    await asyncio.wait_for(sock.send_multipart(frames), timeout)
                except asyncio.TimeoutError:
                    raise TimeoutError("send blocked for %s ms" % cfg.get("timeout_ms", 10000))
            elif op == "sleep":
                await asyncio.sleep(step["ms"] / 1000)
            else:
                raise ValueError("unknown op %r" % op)
        deadline = time.monotonic() + 1
        while not drained(sock) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        emit({"done": True})
    except Exception as exc:  # report, never hang
        emit({"error": "%s: %s" % (type(exc).__name__, exc)})
    finally:
        ctx.close()
        try:
            await asyncio.wait_for(ctx.wait_closed(), 2)
        except Exception as exc:
            diag("context close: %r" % exc)


def main():
    if os.environ.get("AZMQ_PEER_DEBUG"):
        logging.basicConfig(stream=sys.stderr, level=logging.DEBUG)
    if sys.argv[1:] == ["--check"]:
        from importlib.metadata import version

        found = version("azmq")
        print(json.dumps({"azmq": found, "curve": azmq.crypto.HAS_LIBSODIUM}))
        sys.exit(0 if found == "1.0.6" and azmq.crypto.HAS_LIBSODIUM else 1)
    cfg = json.loads(sys.stdin.read())
    asyncio.run(run(cfg))


if __name__ == "__main__":
    main()
