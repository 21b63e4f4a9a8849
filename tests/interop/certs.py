"""pyzmq's certificate functions (zmq.auth), for the interop tests.

Reads one JSON document from standard input with any of:
  load       list of certificate files: each is read with zmq.auth.load_certificate
  load_dir   a directory: read with zmq.auth.load_certificates
  create     {"dir": ..., "name": ..., "metadata": {...}}: zmq.auth.create_certificates
Writes one JSON object: {"loaded": {path: [public, secret or null]}, "dir_keys": [...],
"created": [public_file, secret_file], "created_keys": [public, secret]}.
"""

import json
import sys

import zmq.auth

cfg = json.loads(sys.stdin.read())
out = {}
if "load" in cfg:
    out["loaded"] = {}
    for path in cfg["load"]:
        public, secret = zmq.auth.load_certificate(path)
        out["loaded"][path] = [public.decode(), secret.decode() if secret else None]
if "load_dir" in cfg:
    out["dir_keys"] = sorted(k.decode() for k in zmq.auth.load_certificates(cfg["load_dir"]))
if "create" in cfg:
    c = cfg["create"]
    public_file, secret_file = zmq.auth.create_certificates(c["dir"], c["name"], metadata=c.get("metadata"))
    out["created"] = [public_file, secret_file]
    public, secret = zmq.auth.load_certificate(secret_file)
    out["created_keys"] = [public.decode(), secret.decode()]
print(json.dumps(out), flush=True)
