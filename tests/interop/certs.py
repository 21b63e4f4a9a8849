"""pyzmq's certificate writer (zmq.auth.create_certificates), for the interop tests.

Reads one JSON document from standard input:
  {"create": {"dir": ..., "name": ..., "metadata": {...}}}
Writes one JSON object: {"created": [public_file, secret_file], "created_keys": [public, secret]}.
"""

import json
import sys

import zmq.auth

cfg = json.loads(sys.stdin.read())
c = cfg["create"]
public_file, secret_file = zmq.auth.create_certificates(c["dir"], c["name"], metadata=c.get("metadata"))
public, secret = zmq.auth.load_certificate(secret_file)
out = {"created": [public_file, secret_file], "created_keys": [public.decode(), secret.decode()]}
print(json.dumps(out), flush=True)
