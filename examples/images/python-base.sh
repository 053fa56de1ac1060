#!/usr/bin/env bash
# Builds a Python base image from this host's Debian packages, without any
# registry or network: the files of each package (`dpkg -L`) and of its
# installed dependency closure are copied into one layer, and
# `tandem images build` turns them into an OCI image (reproducible: the same
# package versions give the same digest).
#
# Why copy the host's packages rather than debootstrap + apt in a rootfs:
# it takes seconds instead of a minute, needs no network, and the versions
# are exactly the host's (what tandem itself was tested with); the cost is
# that the image is only as portable as the host's Debian release.
#
# Usage: python-base.sh TANDEM_BIN CACHE_DIR [PROFILE]
#   PROFILE ml (default): python3, numpy, pandas, scikit-learn, xgboost
#   PROFILE numpy:        python3 and numpy (what a Python handler worker
#                         needs at least; the serving end-to-end test)
#   PROFILE notebook:     python3, numpy and Jupyter (jupyter-notebook), for
#                         `tandem notebooks start --image`
#   PROFILE minimal:      python3 only
# Prints the OCI layout reference (oci:DIR:base) on stdout. The layout is
# cached in CACHE_DIR under a key made of the package versions, so a second
# run returns at once; `tandem images push oci:DIR:base team/python:ml`
# then puts it in tandem.
set -euo pipefail
TANDEM=$1
CACHE=$2
PROFILE=${3:-ml}
case "$PROFILE" in
  ml) ROOTS="python3 python3-numpy python3-pandas python3-sklearn python3-xgboost dash" ;;
  numpy) ROOTS="python3 python3-numpy dash" ;;
  notebook) ROOTS="python3 python3-numpy jupyter-notebook dash" ;;
  minimal) ROOTS="python3 dash" ;;
  *) echo "unknown profile '$PROFILE' (ml, numpy, notebook or minimal)" >&2; exit 2 ;;
esac
# Packages a Python runtime never needs in an image (the package manager and
# its helpers) are not followed.
SKIP=" dpkg debconf perl-base install-info debianutils "

# copy_in PATH: the host's PATH (a file or a symlink, kept as a symlink) at
# the same path under $ROOT. (Not `cp --parents`: coreutils 9.1 fails on the
# first file of each directory it has to create.)
copy_in() {
  mkdir -p "$ROOT$(dirname "$1")"
  cp -a "$1" "$ROOT$1"
}

# Every installed package and its dependencies, read once (one dpkg-query per
# package took minutes for Jupyter's closure on a loaded machine).
declare -A INSTALLED=() DEPENDS=()
while IFS=$'\t' read -r name status deps; do
  [ "$status" = installed ] || continue
  INSTALLED[$name]=1
  DEPENDS[$name]=$deps
done < <(dpkg-query -W -f='${Package}\t${db:Status-Status}\t${Pre-Depends}, ${Depends}\n')
installed() { [ -n "${INSTALLED[$1]:-}" ]; }

# The installed dependency closure of ROOTS (Depends and Pre-Depends; of
# alternatives, the first installed one).
declare -A SEEN=()
QUEUE=()
for p in $ROOTS; do
  installed "$p" || { echo "package $p is not installed (scripts/bootstrap installs it)" >&2; exit 1; }
  QUEUE+=("$p")
done
while [ ${#QUEUE[@]} -gt 0 ]; do
  p=${QUEUE[0]}
  QUEUE=("${QUEUE[@]:1}")
  [ -n "${SEEN[$p]:-}" ] && continue
  SEEN[$p]=1
  deps=${DEPENDS[$p]:-}
  IFS=',' read -ra alts <<<"$deps"
  for alt in "${alts[@]}"; do
    IFS='|' read -ra choices <<<"$alt"
    for c in "${choices[@]}"; do
      name=${c%%(*}             # drop "(>= 1.0)"
      name=${name//:any/}
      name=${name//[[:space:]]/}
      [ -z "$name" ] && continue
      if installed "$name"; then
        [[ "$SKIP" == *" $name "* ]] || QUEUE+=("$name")
        break
      fi
    done
  done
done
PACKAGES=$(printf '%s\n' "${!SEEN[@]}" | sort)
# shellcheck disable=SC2086  # one argument per package
VERSIONS=$(dpkg-query -W -f='${Package}=${Version}\n' $PACKAGES | sort)
KEY=$(printf '%s\n%s\n' "$PROFILE v5" "$VERSIONS" | sha256sum | cut -c1-16)
OUT="$CACHE/python-$PROFILE-$KEY"
if [ -f "$OUT/index.json" ]; then
  echo "oci:$OUT:base"
  exit 0
fi

mkdir -p "$CACHE"
WORK=$(cd "$(mktemp -d "$CACHE/.build.XXXXXX")" && pwd)
trap 'rm -rf "$WORK"' EXIT
ROOT="$WORK/rootfs"
mkdir -p "$ROOT/usr/bin" "$ROOT/usr/lib" "$ROOT/usr/lib64" "$ROOT/usr/sbin" "$ROOT/tmp" "$ROOT/etc"
# Debian bookworm is /usr-merged: the top-level directories are symlinks.
for d in bin lib lib64 sbin; do ln -s "usr/$d" "$ROOT/$d"; done
# Paths that are not ASCII are left out (ca-certificates has a few; tandem's
# layer writer runs in the C locale and cannot put them in a tar header).
for p in $PACKAGES; do
  dpkg -L "$p" | { LC_ALL=C grep -av '[^ -~]' || true; } | while read -r f; do
    case "$f" in
      /usr/share/doc/* | /usr/share/man/* | /usr/share/locale/* | /usr/share/lintian/* | /etc/*) continue ;;
    esac
    if [ -L "$f" ] || [ -f "$f" ]; then
      copy_in "$f"
    fi
  done
done
# Debian's alternatives (libblas.so.3 and liblapack.so.3 for numpy, ...) are
# links made by update-alternatives, in no package's file list: recreate the
# host's links through /etc/alternatives whose final target was copied.
for dir in /usr/lib/x86_64-linux-gnu /usr/bin; do
  find "$dir" -maxdepth 1 -type l -lname '/etc/alternatives/*' | while read -r link; do
    target=$(readlink -f "$link")
    [ -e "$ROOT$target" ] || continue
    copy_in "$link"
    copy_in "$(readlink "$link")"
  done
done
# What Python and the shell expect to find.
ln -sf python3.11 "$ROOT/usr/bin/python3" 2>/dev/null || true
[ -e "$ROOT/usr/bin/sh" ] || ln -s dash "$ROOT/usr/bin/sh"
# Bytecode: Debian compiles it at install time (py3compile), so no package
# lists it; without it every import in the image compiles its module again,
# in memory (the root is read-only), on every start — numpy took 1.5 s instead
# of 0.4 s. Hash-checked .pyc files stay valid under the layer's fixed mtimes
# (timestamp-checked ones would not), and the same sources give the same
# bytes, so the image stays reproducible.
for d in "$ROOT"/usr/lib/python3*; do
  [ -d "$d" ] && /usr/bin/python3 -m compileall -q -j1 --invalidation-mode checked-hash \
    -s "$ROOT" -p / "$d" >/dev/null 2>&1 || true
done
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$ROOT/etc/passwd"
printf 'root:x:0:\n' > "$ROOT/etc/group"
cat > "$WORK/image.yaml" <<YAML
from: scratch
layers:
  - {src: rootfs, dest: /}
env: {PATH: /usr/local/bin:/usr/bin:/bin, LANG: C.UTF-8, PYTHONDONTWRITEBYTECODE: "1"}
labels: {org.tandem.base: python-$PROFILE, org.tandem.packages: "$KEY"}
YAML
SOURCE_DATE_EPOCH=0 "$TANDEM" images build -f "$WORK/image.yaml" --output "oci:$WORK/layout:base" >/dev/null
mv "$WORK/layout" "$OUT"
echo "oci:$OUT:base"
