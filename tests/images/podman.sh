# A private podman for one test (tests/images, tests/kubernetes): its storage,
# run root and containers.conf in a directory of the test's own, nothing of the
# machine's podman touched. Source it, call `private_podman DIR [DRIVER]`, run
# podman as `podman_ ARGS...`, and call `podman_cleanup` from the test's EXIT
# trap before removing DIR.

# private_podman DIR [STORAGE_DRIVER]: podman with its storage under DIR
# (PODMAN_ROOT, PODMAN_RUNROOT), cgroupfs, runc, events in a file, and the
# storage driver given (podman's default, overlay, if none).
private_podman() {
  PODMAN_DIR=$1
  PODMAN_ROOT=$1/root
  PODMAN_RUNROOT=$1/runroot
  mkdir -p "$PODMAN_DIR"
  # This machine refuses podman's default nofile and nproc limits for root
  # (above the hard limits runc may set here), hence explicit ones.
  printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n' \
    >"$PODMAN_DIR/containers.conf"
  PODMAN_ARGS=(--root "$PODMAN_ROOT" --runroot "$PODMAN_RUNROOT" ${2:+--storage-driver "$2"}
               --cgroup-manager cgroupfs --runtime runc --events-backend file)
}

# podman_ ARGS...: the private podman.
podman_() { CONTAINERS_CONF="$PODMAN_DIR/containers.conf" podman "${PODMAN_ARGS[@]}" "$@"; }

# podman_cleanup: removes the private podman's pods, containers and images
# (not `podman system reset`, which also touches the machine's network
# configuration) and unmounts what it left mounted. Does nothing before
# private_podman.
podman_cleanup() {
  [ -n "${PODMAN_DIR:-}" ] || return 0
  podman_ pod rm -a -f -t 0 >/dev/null 2>&1
  podman_ rm -a -f -t 0 >/dev/null 2>&1
  podman_ rmi -a -f >/dev/null 2>&1
  grep -o " $PODMAN_DIR/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
}
