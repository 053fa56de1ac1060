#!/usr/bin/env bash
# Jobs in images end to end through `tandem up` and the CLI (docs/images.md):
#   - a Python base image from the host's Debian packages
#     (examples/images/python-base.sh, cached under CACHE_DIR), pushed to
#     tandem from its OCI layout;
#   - a bring-your-own-container training image built with
#     `tandem images build` FROM it, whose `train` program imports a Python
#     module the host does not have (it is only in a layer of the image);
#     the same spec builds to the same digest twice;
#   - the image runs as a job with no entry_point, registers its model, and
#     the model version's lineage names the image digest;
#   - the same image serves that model: the train program packs the image's
#     handler.py with the model, a deployment created with the CLI takes the
#     image from the version's lineage, and /v2/.../infer is answered by
#     handler workers inside the image (using the module only it has); an
#     unknown image is refused at create time, nothing created; the host
#     (`image: ""`) cannot load the handler;
#   - `tandem images pull` gives back the same digest; skopeo and podman pull
#     an image built by tandem with its digest unchanged; an unknown image is
#     refused at submit with its name; a bad image spec changes nothing.
source "$(dirname "$0")/../cli/lib.sh"
source "$(dirname "$0")/podman.sh"
TANDEM=$1
REPO=${2:-$(cd "$(dirname "$0")/../.." && pwd)}
CACHE=${3:-/tmp/tandem-image-cache}
WORK=$(mktemp -d /tmp/tandem-byoc-e2e.XXXXXX)
cleanup() {
  stop_control_plane
  podman_cleanup
  chmod -R u+w "$WORK" 2>/dev/null  # podman's storage holds read-only layers
  rm -rf "$WORK"
}
trap cleanup EXIT

command -v bwrap >/dev/null || { echo "SKIP: bubblewrap is not installed"; exit 0; }
for tool in skopeo podman runc; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed (scripts/bootstrap installs it)"; exit 1; }
done
# numpy: the handler worker needs it (python3 + numpy, the host's packages).
BASE=$("$REPO/examples/images/python-base.sh" "$TANDEM" "$CACHE" numpy) || {
  echo "FAIL: cannot build the Python base image"; exit 1; }
python3 -c 'import tandem_e2e_secret' 2>/dev/null && { echo "FAIL: the host has the module"; exit 1; }

start_control_plane "$TANDEM" "$WORK/home" || { echo "control plane did not start"; exit 1; }

expect_rc 0 "$TANDEM" images push "$BASE" e2e/python:numpy
expect_contains "$OUT" "sha256:" "push prints the digest"

# The BYOC image: a train program and a module only the image has.
mkdir -p "$WORK/byoc/tandem_e2e_secret"
cat > "$WORK/byoc/tandem_e2e_secret/__init__.py" <<'PY'
def weights():
    return "secret-weights-42"

def factor():
    return 42.0
PY
# The handler the image serves its models with (SageMaker BYOC: the image
# holds the serving code too); train packs it with the model.
cat > "$WORK/byoc/handler.py" <<'PY'
import numpy as np
import tandem_e2e_secret  # only the image has it

def load(model_dir):
    with open(model_dir + "/model.txt") as f:
        assert f.read() == tandem_e2e_secret.weights()
    return tandem_e2e_secret.factor()

def predict(model, features):
    return model * features.sum(axis=1)
PY
cat > "$WORK/byoc/train" <<'PY'
#!/usr/bin/python3
import json, os, sys
import tandem_e2e_secret
hps = json.load(open("/opt/ml/input/config/hyperparameters.json"))
print("argv", sys.argv[1:], "hps", hps, "greeting", os.environ.get("GREETING"))
print("cwd", os.getcwd())
with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w") as f:
    f.write(tandem_e2e_secret.weights())
with open(os.path.join(os.environ["SM_MODEL_DIR"], "handler.py"), "w") as f:
    f.write(open("/opt/program/handler.py").read())
with open(os.path.join(os.environ["SM_MODEL_DIR"], "tandem-model.yaml"), "w") as f:
    f.write("flavor: python\nhandler: handler.py\nnum_features: 3\npython: {workers: 1}\n")
print("loss=0.25")
PY
chmod +x "$WORK/byoc/train"
cat > "$WORK/byoc/image.yaml" <<'YAML'
from: e2e/python:numpy
layers:
  - {src: train, dest: /usr/local/bin/train}
  - {src: tandem_e2e_secret, dest: /usr/lib/python3/dist-packages/tandem_e2e_secret}
  - {src: handler.py, dest: /opt/program/handler.py}
env: {GREETING: from-the-image}
workdir: /opt/program
labels: {team: e2e}
YAML
expect_rc 0 "$TANDEM" images build -f "$WORK/byoc/image.yaml" -t e2e/byoc:1 -o json
DIGEST=$(grep -o '"digest": *"sha256:[0-9a-f]*"' <<<"$OUT" | grep -o 'sha256:[0-9a-f]*')
[ -n "$DIGEST" ] || fail "build printed no digest: $OUT"
expect_rc 0 "$TANDEM" images build -f "$WORK/byoc/image.yaml" --output "oci:$WORK/again:byoc" -o json
expect_contains "$OUT" "$DIGEST" "the same spec builds to the same digest"
touch "$WORK/byoc/train"  # a new mtime changes nothing (layers carry SOURCE_DATE_EPOCH)
expect_rc 0 "$TANDEM" images build -f "$WORK/byoc/image.yaml" --output "oci:$WORK/again2:byoc" -o json
expect_contains "$OUT" "$DIGEST" "file mtimes do not enter the digest"

# Bad specs: a clear error, nothing pushed.
printf 'from: scratch\nlayers: [{src: missing-dir, dest: /x}]\n' > "$WORK/byoc/bad.yaml"
expect_rc 1 "$TANDEM" images build -f "$WORK/byoc/bad.yaml" -t e2e/bad:1
expect_contains "$OUT" "missing-dir" "a missing source is named"
printf 'from: scratch\nlayerz: []\n' > "$WORK/byoc/bad2.yaml"
expect_rc 1 "$TANDEM" images build -f "$WORK/byoc/bad2.yaml" -t e2e/bad:1
expect_contains "$OUT" "layerz" "an unknown field is named"
expect_rc 1 "$TANDEM" images pull e2e/bad:1 "oci:$WORK/nothing"
expect_contains "$OUT" "e2e/bad" "nothing was pushed for the bad specs"

# The job: no entry_point, the image's train runs; its model is registered.
cat > "$WORK/job.yaml" <<'YAML'
name: byoc
team: e2e
image: e2e/byoc:1
hyperparameters: {depth: 4}
metric_definitions: [{name: loss, regex: 'loss=([0-9.]+)'}]
register: {model: byoc, alias: champion}
YAML
expect_rc 0 "$TANDEM" jobs run -f "$WORK/job.yaml" --wait -o json
JOB=$(grep -o '"id": *"[0-9a-zA-Z]*"' <<<"$OUT" | head -1 | cut -d'"' -f4)
expect_contains "$OUT" "Completed" "the BYOC job completes"
expect_rc 0 "$TANDEM" jobs logs "$JOB"
# `docker run IMAGE train` with no ENTRYPOINT: train is the program, no arguments.
expect_contains "$OUT" "argv [] hps {'depth': '4'} greeting from-the-image" "train ran as SageMaker runs it"
expect_contains "$OUT" "cwd /opt/program" "in the image's WorkingDir"
expect_rc 0 "$TANDEM" jobs get "$JOB" -o json
expect_contains "$OUT" "$DIGEST" "the job records the image digest"
MODEL_KEY=$(grep -o '"key": *"jobs/[^"]*model.tar.gz"' <<<"$OUT" | cut -d'"' -f4)
expect_rc 0 "$TANDEM" models get byoc/1 -o json
expect_contains "$OUT" "\"image_digest\": \"$DIGEST\"" "the lineage names the image"
expect_contains "$OUT" "e2e/byoc@$DIGEST" "the version says where to pull the image"
expect_rc 0 "$TANDEM" artifacts get "$MODEL_KEY" "$WORK/model.tar.gz"
tar -xzf "$WORK/model.tar.gz" -C "$WORK"
expect_eq "$(cat "$WORK/model.txt" 2>/dev/null)" "secret-weights-42" "the model came from the image's module"

# --- The same image serves the model through its handler.py -----------------
python3 -c 'import tandem_e2e_secret' 2>/dev/null && fail "the host must not have the module"
cat > "$WORK/deploy.yaml" <<'YAML'
name: byoc-api
team: e2e
model: byoc@champion
batching: {max_batch_size: 1}
YAML
expect_rc 0 "$TANDEM" deployments apply -f "$WORK/deploy.yaml" --wait --timeout 120
expect_rc 0 "$TANDEM" deployments get byoc-api -o json
expect_contains "$OUT" "\"image_pinned\": \"e2e/byoc@$DIGEST\"" "the deployment records the lineage's image, pinned"
URL=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["endpoint"])' <<<"$OUT")
expect_rc 0 "$TANDEM" deployments get byoc-api
expect_contains "$OUT" "image:     e2e/byoc@$DIGEST" "deployments get shows the image"
INFER=$(curl -s -X POST "$URL/v2/models/byoc/infer" -H 'content-type: application/json' \
  -d '{"inputs":[{"name":"input","shape":[2,3],"datatype":"FP32","data":[1,2,3,0.5,0.25,0.25]}]}')
expect_contains "$(tr -d ' ' <<<"$INFER")" '"data":[252,42]' "infer is answered by the image's handler (42 x row sum)"
LOG=$(cat "$WORK"/home/deployments/byoc-api/replica-*.log 2>/dev/null)
expect_contains "$LOG" "in image e2e/byoc@$DIGEST" "the replica's workers run in the image"

# An explicit image: an unknown one is a 404 at create time naming it, and
# nothing is created.
sed 's#name: byoc-api#name: byoc-nope#' "$WORK/deploy.yaml" > "$WORK/nope-deploy.yaml"
echo 'image: e2e/nope:1' >> "$WORK/nope-deploy.yaml"
expect_rc 1 "$TANDEM" deployments apply -f "$WORK/nope-deploy.yaml"
expect_contains "$OUT" "e2e/nope:1" "the unknown serving image is named"
expect_rc 1 "$TANDEM" deployments get byoc-nope
sed -i 's#^image: .*#image: "e2e/bad image"#' "$WORK/nope-deploy.yaml"
expect_rc 1 "$TANDEM" deployments apply -f "$WORK/nope-deploy.yaml"
expect_contains "$OUT" "image" "a malformed image reference is refused"
expect_rc 1 "$TANDEM" deployments get byoc-nope
# On the host (image: ""), the handler cannot import the image's module.
sed 's#name: byoc-api#name: byoc-host#' "$WORK/deploy.yaml" > "$WORK/host-deploy.yaml"
echo 'image: ""' >> "$WORK/host-deploy.yaml"
expect_rc 1 "$TANDEM" deployments apply -f "$WORK/host-deploy.yaml" --wait --timeout 20
REASON=""
for _ in $(seq 1 100); do
  REASON=$(cat "$WORK"/home/deployments/byoc-host/replica-*.log 2>/dev/null)
  grep -q "tandem_e2e_secret" <<<"$REASON" && break
  sleep 0.2
done
expect_contains "$REASON" "No module named 'tandem_e2e_secret'" "on the host the handler's module is missing"
expect_rc 0 "$TANDEM" deployments delete byoc-host
expect_rc 0 "$TANDEM" deployments delete byoc-api

# Pull gives back the same digest.
expect_rc 0 "$TANDEM" images pull e2e/byoc:1 "oci:$WORK/pulled:byoc" -o json
expect_contains "$OUT" "$DIGEST" "pull keeps the digest"

# An unknown image: refused at submit, naming it; no job is stored.
sed 's#e2e/byoc:1#e2e/nope:1#; s#name: byoc#name: nope#' "$WORK/job.yaml" > "$WORK/nope.yaml"
expect_rc 1 "$TANDEM" jobs run -f "$WORK/nope.yaml"
expect_contains "$OUT" "e2e/nope:1" "the unknown image is named"
expect_rc 0 "$TANDEM" jobs list --name nope -o json
expect_contains "$OUT" '"jobs": []' "nothing stored for the unknown image"

# Another team's image: a member of team `other` who is not a viewer in
# `e2e` may not run e2e/byoc (as they may not pull it); nothing is stored.
expect_rc 0 "$TANDEM" auth principals create olga
expect_rc 0 "$TANDEM" teams create other
"$TANDEM" teams create e2e >/dev/null 2>&1  # may exist already (the job above)
expect_rc 0 "$TANDEM" teams add-member other olga --role member
OLGA=$("$TANDEM" auth tokens create --principal olga -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
sed 's#team: e2e#team: other#; s#name: byoc#name: stolen#; /^register:/d' "$WORK/job.yaml" > "$WORK/stolen.yaml"
expect_rc 1 env TANDEM_TOKEN="$OLGA" "$TANDEM" jobs run -f "$WORK/stolen.yaml"
expect_contains "$OUT" "viewer role in team 'e2e'" "another team's image is refused"
expect_rc 0 "$TANDEM" jobs list --name stolen -o json
expect_contains "$OUT" '"jobs": []' "nothing stored for the refused image"
expect_rc 0 "$TANDEM" teams add-member e2e olga --role viewer
expect_rc 0 env TANDEM_TOKEN="$OLGA" "$TANDEM" jobs run -f "$WORK/stolen.yaml" --wait
expect_contains "$OUT" "Completed" "a viewer of the image's team may run it"

# --- skopeo and podman pull an image built by tandem, digest unchanged -------
HOSTPORT=${TANDEM_SERVER#http://}
CREDS="admin:$TANDEM_TOKEN"
mkdir -p "$WORK/small"
echo "built by tandem" > "$WORK/small/hello.txt"
printf 'from: scratch\nlayers: [{src: hello.txt, dest: /hello.txt}]\ncmd: [/hello.txt]\n' > "$WORK/small/image.yaml"
expect_rc 0 "$TANDEM" images build -f "$WORK/small/image.yaml" -t e2e/small:1 -o json
SMALL=$(grep -o '"digest": *"sha256:[0-9a-f]*"' <<<"$OUT" | grep -o 'sha256:[0-9a-f]*')
[ -n "$SMALL" ] || fail "build printed no digest: $OUT"
expect_rc 0 skopeo inspect --tls-verify=false --creds "$CREDS" "docker://$HOSTPORT/e2e/byoc:1"
expect_contains "$OUT" "\"Digest\": \"$DIGEST\"" "skopeo inspect shows the digest tandem built"
expect_rc 0 skopeo copy --preserve-digests --src-tls-verify=false --src-creds "$CREDS" \
  "docker://$HOSTPORT/e2e/small:1" "oci:$WORK/skopeo-out:small"
expect_contains "$(cat "$WORK/skopeo-out/index.json" 2>/dev/null)" "$SMALL" "skopeo copy keeps the digest"
private_podman "$WORK/podman" vfs
expect_rc 0 podman_ pull --tls-verify=false --creds "$CREDS" "$HOSTPORT/e2e/small:1"
expect_rc 0 podman_ image inspect --format '{{.Digest}}' "$HOSTPORT/e2e/small:1"
expect_eq "$OUT" "$SMALL" "podman pulls the tandem-built image with its digest"

echo "byoc e2e: $PASSES passed, $FAILURES failed"
[ "$FAILURES" -eq 0 ]
