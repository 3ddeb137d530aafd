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

"""One TCP stream of random bytes, for the system tests.

  psp-tcp-stream.py recv ADDR PORT         accepts one connection on
                                           ADDR:PORT and prints "BYTES
                                           SHA256" of what arrived
  psp-tcp-stream.py send ADDR PORT SECONDS sends random bytes to ADDR:PORT
                                           for SECONDS, about 10 MB/s, and
                                           prints "BYTES SHA256" of what it
                                           sent
"""

import hashlib
import os
import socket
import sys
import time


def recv(addr, port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(1)
    c, _ = s.accept()
    h, n = hashlib.sha256(), 0
    while True:
        d = c.recv(65536)
        if not d:
            break
        h.update(d)
        n += len(d)
    print(n, h.hexdigest())


def send(addr, port, seconds):
    end = time.monotonic() + seconds
    s = socket.create_connection((addr, port))
    h, n = hashlib.sha256(), 0
    while time.monotonic() < end:
        d = os.urandom(65536)
        s.sendall(d)
        h.update(d)
        n += len(d)
        time.sleep(0.005)
    s.close()
    print(n, h.hexdigest())


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "recv":
        recv(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) == 5 and sys.argv[1] == "send":
        send(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
