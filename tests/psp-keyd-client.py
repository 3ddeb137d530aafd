#!/usr/bin/env python3
# Copyright (c) 2026 The ovs-psp authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at:
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""A peer of ovs-psp-keyd that sends what it is told, for the tests.

Usage: psp-keyd-client.py HOST:PORT KEY CERT CACERT MESSAGE...

Connects with TLS (KEY, CERT; the server verified against CACERT), sends
each MESSAGE, a JSON-RPC request written as METHOD:JSON-PARAMS-OBJECT (the
id is its position), waits for its reply, and prints one line per reply:
"METHOD: ok RESULT" or "METHOD: error NAME".  A MESSAGE "pause:SECONDS"
waits.  If TLS fails, prints "tls: error REASON" and exits 0.
"""

import json
import socket
import ssl
import sys
import time


def main():
    hostport, key, cert, cacert = sys.argv[1:5]
    host, port = hostport.rsplit(":", 1)

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(cacert)
    ctx.load_cert_chain(cert, key)
    try:
        sock = ctx.wrap_socket(socket.create_connection((host, int(port)),
                                                        timeout=10))
        # TLS 1.3 reports a refused client certificate only on first read.
        sock.settimeout(10)
    except (ssl.SSLError, OSError) as e:
        print("tls: error %s" % type(e).__name__)
        return

    buf = ""
    dec = json.JSONDecoder()
    for i, m in enumerate(sys.argv[5:]):
        if m.startswith("pause:"):
            time.sleep(float(m[6:]))
            continue
        method, params = m.split(":", 1)
        req = {"method": method, "params": [json.loads(params)], "id": i}
        try:
            sock.sendall(json.dumps(req).encode())
            while True:
                try:
                    msg, end = dec.raw_decode(buf.lstrip())
                    buf = buf.lstrip()[end:]
                except ValueError:
                    data = sock.recv(65536)
                    if not data:
                        raise OSError("closed")
                    buf += data.decode()
                    continue
                if msg.get("id") == i:
                    break
        except (ssl.SSLError, OSError) as e:
            print("tls: error %s" % type(e).__name__)
            return
        if msg.get("error") is not None:
            print("%s: error %s" % (method, msg["error"].get("error")))
        else:
            print("%s: ok %s" % (method,
                                 json.dumps(msg["result"], sort_keys=True)))
    sock.close()


if __name__ == "__main__":
    main()
