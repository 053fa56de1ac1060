#!/usr/bin/python3
"""Executes one cell on a real Jupyter kernel through Jupyter's REST and
websocket API (the way a browser does) and prints what the cell printed.

usage: run_cell.py BASE_URL TOKEN CODE
Exit status 0 when the cell ran without error, 1 otherwise."""
import json
import sys
import urllib.request
import uuid

import websocket  # Debian python3-websocket


def main():
    base, token, code = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
    req = urllib.request.Request(base + "/api/kernels?token=" + token, data=b"{}",
                                 method="POST", headers={"Content-Type": "application/json"})
    kernel = json.load(urllib.request.urlopen(req, timeout=60))
    ws_url = base.replace("http://", "ws://") + "/api/kernels/%s/channels?token=%s" % (
        kernel["id"], token)
    ws = websocket.create_connection(ws_url, timeout=120)
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({
        "header": {"msg_id": msg_id, "username": "e2e", "session": uuid.uuid4().hex,
                   "msg_type": "execute_request", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": True,
                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
    }))
    out, status, idle = [], None, False
    while status is None or not idle:
        msg = json.loads(ws.recv())
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind == "stream":
            out.append(msg["content"]["text"])
        elif kind == "error":
            out.append("%s: %s" % (msg["content"]["ename"], msg["content"]["evalue"]))
        elif kind == "execute_reply":
            status = msg["content"]["status"]
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            idle = True
    ws.close()
    sys.stdout.write("".join(out))
    return 0 if status == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
