"""One boto3 round for bench/s3/run.sh: upload_file then download_file with
boto3's default TransferConfig (8 MiB multipart parts, 10 threads).

usage: boto3_xfer.py ENDPOINT BUCKET KEY SRC DST
prints "put_s=.. get_s=.. sha_src_s=.. sha_fsync_dst_s=.. fsync_dst_s=.." where
sha_src_s and sha_fsync_dst_s time what tandem does on top of a plain
transfer: hashing the source before the put, and fsync'ing + hashing the
downloaded file after the get; fsync_dst_s is the fsync alone (what
durability costs on this disk); put_cpu_s and get_cpu_s are this process's
CPU time (user + system, all threads) in the upload and the download.
Credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
"""
import hashlib
import os
import sys
import time

import boto3


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fsync_file(path):
    with open(path, "rb") as f:
        os.fsync(f.fileno())


endpoint, bucket, key, src, dst = sys.argv[1:6]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
c0 = time.process_time()
t0 = time.monotonic()
s3.upload_file(src, bucket, key)
t1 = time.monotonic()
c1 = time.process_time()
s3.download_file(bucket, key, dst)
t2 = time.monotonic()
c2 = time.process_time()
sha_src = sha256_file(src)
t3 = time.monotonic()
fsync_file(dst)
t4 = time.monotonic()
sha_dst = sha256_file(dst)
t5 = time.monotonic()
assert sha_src == sha_dst
print(f"put_s={t1 - t0:.4f} get_s={t2 - t1:.4f} sha_src_s={t3 - t2:.4f} "
      f"sha_fsync_dst_s={t5 - t3:.4f} fsync_dst_s={t4 - t3:.4f} "
      f"put_cpu_s={c1 - c0:.4f} get_cpu_s={c2 - c1:.4f}")
