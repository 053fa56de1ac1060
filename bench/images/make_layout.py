#!/usr/bin/env python3
"""Writes an OCI image layout with LAYERS uncompressed tar layers of MIB/LAYERS
MiB of random bytes each (incompressible, so every byte travels), tagged "1".
Usage: make_layout.py DIR MIB LAYERS"""
import hashlib, io, json, os, sys, tarfile

out, mib, layers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)

def put(data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest

descs, diff_ids = [], []
for i in range(layers):
    payload = os.urandom(mib * 1024 * 1024 // layers)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(f"data/part{i}.bin")
        info.size, info.mtime, info.mode = len(payload), 0, 0o644
        tar.addfile(info, io.BytesIO(payload))
    data = buf.getvalue()
    d = put(data)
    descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d,
                  "size": len(data)})
    diff_ids.append(d)
config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                     "rootfs": {"type": "layers", "diff_ids": diff_ids}},
                    sort_keys=True, separators=(",", ":")).encode()
cd = put(config)
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": cd, "size": len(config)},
                       "layers": descs}, sort_keys=True, separators=(",", ":")).encode()
md = put(manifest)
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md,
        "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": "1"}}]}, f)
with open(os.path.join(out, "oci-layout"), "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
print(md)
