#!/usr/bin/env python3
"""A slow client: sends a request's beginning, then drips one byte every 0.5 s
until the server answers or closes, and says what happened.

    drip.py PORT SECONDS BYTE <HEAD

HEAD (stdin, sent as is): the start of an HTTP request on 127.0.0.1:PORT --
an unfinished header block (a slowloris client: BYTE lands in the last
header's value) or a whole head announcing a body (a slow body: BYTE pads
the body). BYTE is sent every 0.5 s until the first byte of a response, the
server's close, or SECONDS; after a response, the rest of it is read up to
the server's close (at most 5 s more).

Prints one line:
    CLOSED|NOT-CLOSED after <s>s, <n> bytes dripped, <status line>: <body>
CLOSED: the server closed the connection (or it broke); <status line> is
"no response" when the server sent nothing.
"""
import socket
import sys
import time


def main():
    port, seconds, byte = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3].encode()
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(sys.stdin.buffer.read())
    t0 = time.time()
    deadline, sent, got, closed = t0 + seconds, 0, b"", False
    s.settimeout(0.5)
    while time.time() < deadline:
        if not got:
            try:
                s.send(byte)
                sent += 1
            except OSError:
                closed = True
                break
        try:
            d = s.recv(4096)
            if not d:
                closed = True
                break
            if not got:  # the response began: wait for its end, not the drip's
                deadline = min(deadline, time.time() + 5)
            got += d
        except socket.timeout:
            pass
        except OSError:
            closed = True
            break
    status = got.split(b"\r\n", 1)[0].decode(errors="replace") if got else "no response"
    body = got.split(b"\r\n\r\n", 1)[1].decode(errors="replace") if b"\r\n\r\n" in got else ""
    print(f"{'CLOSED' if closed else 'NOT-CLOSED'} after {time.time() - t0:.1f}s, "
          f"{sent} bytes dripped, {status}: {body}")


if __name__ == "__main__":
    main()
