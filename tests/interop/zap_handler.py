"""pyzmq's own ZAP handler (zmq.auth.Authenticator) serving RFC 27 over TCP, for the interop tests.

Reads one JSON document from standard input:
  allow / deny   lists of IP addresses
  plain          {"domain": "*", "passwords": {user: password}}
  curve          {"domain": "*", "location": directory of public certificates, or "*" for any key}
Binds its REP socket to inproc://zeromq.zap.01 (as pyzmq does) and also to a TCP port, writes
{"bound": endpoint}, then answers requests until it is killed.
"""

import asyncio
import json
import sys

import zmq
import zmq.auth

cfg = json.loads(sys.stdin.read())
ctx = zmq.Context()
auth = zmq.auth.Authenticator(ctx)
auth.start()
if cfg.get("allow"):
    auth.allow(*cfg["allow"])
if cfg.get("deny"):
    auth.deny(*cfg["deny"])
if "plain" in cfg:
    auth.configure_plain(domain=cfg["plain"].get("domain", "*"), passwords=cfg["plain"]["passwords"])
if "curve" in cfg:
    auth.configure_curve(domain=cfg["curve"].get("domain", "*"), location=cfg["curve"]["location"])

auth.zap_socket.bind("tcp://127.0.0.1:*")
print(json.dumps({"bound": auth.zap_socket.getsockopt(zmq.LAST_ENDPOINT).decode()}), flush=True)


async def serve():
    while True:
        frames = auth.zap_socket.recv_multipart()
        await auth.handle_zap_message(frames)
        print(json.dumps({"answered": frames[5].decode(errors="replace")}), flush=True)


asyncio.run(serve())
