"""One boto3 round for bench/s3/run.sh: upload_file then download_file with
boto3's default TransferConfig (8 MiB multipart parts, 10 threads).

usage: boto3_xfer.py ENDPOINT BUCKET KEY SRC DST  -> "put_s=.. get_s=.."
Credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
"""
import sys
import time

import boto3

endpoint, bucket, key, src, dst = sys.argv[1:6]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
t0 = time.monotonic()
s3.upload_file(src, bucket, key)
t1 = time.monotonic()
s3.download_file(bucket, key, dst)
t2 = time.monotonic()
print(f"put_s={t1 - t0:.4f} get_s={t2 - t1:.4f}")
