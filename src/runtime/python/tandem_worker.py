# tandem Python handler worker. Started by the runtime's handler pool as
#   <python> -c <this file's text> HANDLER_PATH MODEL_DIR FD
# with one end of a Unix socketpair as file descriptor FD. It imports the
# team's handler.py, calls load(model_dir) once, then answers requests until
# the socket closes. Framing (little-endian):
#   request  : magic u32 0x514E4454, kind u32 (1 = predict), id u64, n_rows u32,
#              n_cols u32, then n_rows * n_cols float32 (row-major)
#   response : magic u32 0x524E4454, status u32 (0 ok, 1 error, 2 ready), id u64,
#              a u32, b u32, then
#                ok    -> a = n_rows, b = n_out, a * b float32
#                error -> a = message length, UTF-8 message
#                ready -> a = JSON length, JSON {pid, n_features, test_data}
import importlib.util
import json
import os
import socket
import struct
import sys
import traceback

HEADER = struct.Struct("<IIQII")
REQ_MAGIC = 0x514E4454  # the bytes "TDNQ"
RESP_MAGIC = 0x524E4454  # the bytes "TDNR"
KIND_PREDICT = 1
OK, ERROR, READY = 0, 1, 2


def recv_exact(sock, view):
    got = 0
    while got < len(view):
        n = sock.recv_into(view[got:])
        if n == 0:
            return False
        got += n
    return True


def send_error(sock, req_id, message):
    data = message.encode("utf-8", "replace")[:65536]
    sock.sendall(HEADER.pack(RESP_MAGIC, ERROR, req_id, len(data), 0) + data)


def describe(exc):
    text = str(exc)
    return "%s: %s" % (type(exc).__name__, text) if text else type(exc).__name__


def import_handler(path):
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    spec = importlib.util.spec_from_file_location("tandem_user_handler", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in ("load", "predict"):
        if not callable(getattr(module, name, None)):
            raise AttributeError("%s defines no function %s()" % (path, name))
    return module


def as_matrix(np, value, what):
    arr = np.asarray(value, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise ValueError("%s must be a 1-D or 2-D array of numbers, got %d dimensions"
                         % (what, arr.ndim))
    return np.ascontiguousarray(arr)


def json_rows(matrix):
    """Rows as JSON-ready lists, NaN (missing) as None."""
    return [[None if v != v else v for v in row] for row in matrix.tolist()]


def main():
    handler_path, model_dir, fd = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sock = socket.socket(fileno=fd)
    try:
        import numpy as np
        handler = import_handler(handler_path)
        model = handler.load(model_dir)
        info = {"pid": os.getpid()}
        n_features = getattr(model, "n_features_in_", None)
        if isinstance(n_features, int):
            info["n_features"] = n_features
        if callable(getattr(handler, "test_data", None)):
            inputs, outputs = handler.test_data()
            info["test_data"] = {
                "inputs": json_rows(as_matrix(np, inputs, "test_data() inputs")),
                "outputs": json_rows(as_matrix(np, outputs, "test_data() outputs"))}
    except BaseException as e:  # noqa: BLE001 - reported to the runtime
        traceback.print_exc()
        send_error(sock, 0, "loading the handler failed: " + describe(e))
        return 3
    hello = json.dumps(info).encode()
    sock.sendall(HEADER.pack(RESP_MAGIC, READY, 0, len(hello), 0) + hello)

    preprocess = getattr(handler, "preprocess", None)
    postprocess = getattr(handler, "postprocess", None)
    predict = handler.predict
    header = bytearray(HEADER.size)
    while True:
        if not recv_exact(sock, memoryview(header)):
            return 0
        magic, kind, req_id, n_rows, n_cols = HEADER.unpack(header)
        if magic != REQ_MAGIC or kind != KIND_PREDICT:
            send_error(sock, req_id, "protocol error: bad request header")
            return 4
        features = np.empty((n_rows, n_cols), dtype=np.float32)
        if not recv_exact(sock, memoryview(features).cast("B")):
            return 0
        try:
            x = preprocess(features) if preprocess else features
            scores = predict(model, x)
            if postprocess:
                scores = postprocess(scores)
            out = as_matrix(np, scores, "predict() result")
            if out.shape[0] != n_rows:
                raise ValueError("predict() returned %d rows for %d input rows"
                                 % (out.shape[0], n_rows))
        except Exception as e:  # noqa: BLE001 - answered as an error
            send_error(sock, req_id, describe(e))
            continue
        sock.sendall(HEADER.pack(RESP_MAGIC, OK, req_id, out.shape[0], out.shape[1]) +
                     out.tobytes())


if __name__ == "__main__":
    sys.exit(main())
