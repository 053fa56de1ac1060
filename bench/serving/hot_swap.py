#!/usr/bin/python3
"""Moves NAME@champion between versions 1 and 2 MOVES times (every INTERVAL s)
and after each move polls POST URL until a response comes from the new
version; prints the time from the alias change to that first response (p50,
max) as JSON. Usage: hot_swap.py TANDEM URL BODY_FILE MOVES INTERVAL"""
import http.client
import json
import statistics
import subprocess
import sys
import time
import urllib.parse

tandem, url, body_file, moves, interval = sys.argv[1:6]
body = open(body_file, "rb").read()
u = urllib.parse.urlparse(url)
delays = []
for i in range(int(moves)):
    time.sleep(float(interval))
    target = "2" if i % 2 == 0 else "1"
    subprocess.run([tandem, "models", "alias", "bench", "champion", target], check=True,
                   stdout=subprocess.DEVNULL)
    t0 = time.monotonic()
    while True:
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
        c.request("POST", u.path, body, {"content-type": "application/json"})
        r = c.getresponse()
        doc = json.loads(r.read() or b"{}")
        c.close()
        if r.status == 200 and str(doc.get("version")) == target:
            break
        if time.monotonic() - t0 > 30:
            raise SystemExit(f"version {target} never served")
    delays.append((time.monotonic() - t0) * 1000)
print(json.dumps({"moves": len(delays), "p50_ms": statistics.median(delays), "max_ms": max(delays)}))
