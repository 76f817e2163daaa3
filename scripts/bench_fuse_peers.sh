#!/usr/bin/env bash
# bench_fuse_peers.sh (`npm run bench:fuse-peers`): the fsraft mount of this checkout beside
# GlusterFS (replica 3), MooseFS (3 copies) and a local directory, all on this machine, through the
# shared fuse-side-by-side.sh (same workloads on every mount, alternating; medians and ratios
# fsraft/other). Builds first; brings up fsraft (5 nodes on 127.0.0.1:18201-18215, never the
# default 8001-8005, so a cluster already on those is neither used nor disturbed) and every peer
# that is installed, printing one line for each that is skipped; tears down all it started on any
# exit, Ctrl-C included, through fuse-peers-setup.sh's own -down commands (they stop processes by
# the PIDs they recorded).
#
#   scripts/bench_fuse_peers.sh [fuse-side-by-side.sh options]   (default: --rounds 3)
#
# Needs root (the peers mount and start daemons; drop_caches), /dev/fuse, python3, bc. The peers
# come from Debian: apt-get install glusterfs-server glusterfs-client moosefs-master
# moosefs-chunkserver moosefs-client. FSBS_TOOLS names the folder of the shared tools (default
# ../shared/tools beside the repository). The tool's table is printed at the end and kept in
# /tmp/fsraft-fuse-peers.<pid>.txt.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=${FSBS_TOOLS:-$REPO/../shared/tools}
SETUP=$TOOLS/fuse-peers-setup.sh
SIDE=$TOOLS/fuse-side-by-side.sh
FSRAFT_MNT=/tmp/gl-fsraft-mnt
FSRAFT_PORTS_FIRST=18201
FSRAFT_PORTS_LAST=18215
OUT=/tmp/fsraft-fuse-peers.$$.txt
# The malloc settings fsraft-node's #! line sets (see src/cli/node_environment.ts); the setup script
# starts nodes as `node bin/fsraft-node.js`, which skips that line.
: "${GLIBC_TUNABLES:=glibc.malloc.hugetlb=1:glibc.malloc.trim_threshold=67108864:glibc.malloc.top_pad=16777216:glibc.malloc.arena_max=1:glibc.malloc.mmap_threshold=33554432}"
export GLIBC_TUNABLES

say() { printf 'bench_fuse_peers: %s\n' "$*" >&2; }

STARTED=()    # peers this run brought up (even partly), taken down in reverse order
MOUNTS=()
LOCAL_DIR=""
TOOL_PID=""
NETNS_MOUNTED_BEFORE=0   # `ip netns add` bind-mounts /run/netns and leaves it so; undone if it was not before
mountpoint -q /run/netns && NETNS_MOUNTED_BEFORE=1

teardown() {
  trap '' INT TERM
  if [[ -n "$TOOL_PID" ]] && kill -0 "$TOOL_PID" 2>/dev/null; then
    say "stopping the side-by-side run (pid $TOOL_PID); it removes its work directories"
    kill -TERM "$TOOL_PID" 2>/dev/null
    wait "$TOOL_PID" 2>/dev/null
  fi
  local k peer
  for ((k = ${#STARTED[@]} - 1; k >= 0; k--)); do
    peer=${STARTED[$k]}
    say "taking down $peer"
    if [[ $peer == fsraft ]]; then
      "$SETUP" fsraft-down "$REPO" >&2
      # A mount process that died without unmounting leaves a dead FUSE mount behind.
      mountpoint -q "$FSRAFT_MNT" && { umount -l "$FSRAFT_MNT"; rmdir "$FSRAFT_MNT" 2>/dev/null; }
    else
      "$SETUP" "$peer-down" >&2
    fi
  done
  [[ -n "$LOCAL_DIR" ]] && rm -rf "$LOCAL_DIR"
  if [[ " ${STARTED[*]} " == *" moosefs "* && $NETNS_MOUNTED_BEFORE -eq 0 ]] && mountpoint -q /run/netns \
    && [[ -z "$(ls -A /run/netns)" ]]; then
    umount /run/netns
  fi
  local left
  left=$(grep -E " (/tmp/gl/mnt|/tmp/mfs/mnt|$FSRAFT_MNT) " /proc/mounts)
  [[ -z "$left" ]] || say "still mounted after teardown: $left"
}
trap teardown EXIT
trap 'exit 130' INT TERM

[[ -x "$SETUP" && -x "$SIDE" ]] || { say "no shared tools in $TOOLS (set FSBS_TOOLS)"; exit 2; }
[[ $EUID -eq 0 ]] || { say "run as root: the peers start daemons and mount, and the tool drops caches"; exit 2; }
ARGS=("$@")
[[ ${#ARGS[@]} -gt 0 ]] || ARGS=(--rounds 3)

say "building $REPO"
(cd "$REPO" && npm run --silent build) || { say "build failed"; exit 1; }

ports_free() {
  # Listening sockets only: the connections of a cluster stopped a moment ago linger in TIME-WAIT.
  [[ -z "$(ss -Htln "( sport >= :$FSRAFT_PORTS_FIRST and sport <= :$FSRAFT_PORTS_LAST )" 2>/dev/null)" ]]
}

# --- fsraft -------------------------------------------------------------------------------------
if [[ ! -e /dev/fuse ]]; then
  say "fsraft: skipped: no /dev/fuse"
elif mountpoint -q "$FSRAFT_MNT"; then
  say "fsraft: skipped: $FSRAFT_MNT is already mounted by someone else"
elif ! ports_free; then
  say "fsraft: skipped: ports $FSRAFT_PORTS_FIRST-$FSRAFT_PORTS_LAST are in use"
else
  STARTED+=(fsraft)
  if "$SETUP" fsraft-up "$REPO" >&2; then
    MOUNTS+=(--mount "fsraft=$FSRAFT_MNT")
  else
    say "fsraft: did not come up; its logs: /tmp/fsbs-peers/fsraft-*.log"
    tail -n 5 /tmp/fsbs-peers/fsraft-*.log >&2
  fi
fi

# --- GlusterFS ----------------------------------------------------------------------------------
if ! command -v glusterd > /dev/null || ! command -v gluster > /dev/null || ! command -v mount.glusterfs > /dev/null; then
  say "gluster: skipped: not installed (apt-get install glusterfs-server glusterfs-client)"
elif [[ -e /tmp/gl || -e /tmp/fsbs-peers/glusterd.pid ]]; then
  say "gluster: skipped: /tmp/gl or /tmp/fsbs-peers/glusterd.pid exists (another run's gluster?); not touching it"
else
  STARTED+=(gluster)
  if "$SETUP" gluster-up >&2; then MOUNTS+=(--mount gluster=/tmp/gl/mnt); else say "gluster: did not come up"; fi
fi

# --- MooseFS ------------------------------------------------------------------------------------
if ! command -v mfsmaster > /dev/null || ! command -v mfschunkserver > /dev/null || ! command -v mfsmount > /dev/null \
  || [[ ! -f /var/lib/mfs/metadata.mfs.empty ]]; then
  say "moosefs: skipped: not installed (apt-get install moosefs-master moosefs-chunkserver moosefs-client)"
elif [[ -e /tmp/mfs ]] || ip netns list 2>/dev/null | grep -qw fsbs-mfs; then
  say "moosefs: skipped: /tmp/mfs or network namespace fsbs-mfs exists (another run's moosefs?); not touching it"
else
  STARTED+=(moosefs)
  if "$SETUP" moosefs-up >&2; then MOUNTS+=(--mount moosefs=/tmp/mfs/mnt); else say "moosefs: did not come up"; fi
fi

LOCAL_DIR=$(mktemp -d /tmp/fsraft-fuse-peers-local.XXXXXX)
MOUNTS+=(--mount "local=$LOCAL_DIR")

say "comparing: ${MOUNTS[*]}"
"$SIDE" "${MOUNTS[@]}" "${ARGS[@]}" > "$OUT" &
TOOL_PID=$!
wait "$TOOL_PID"
rc=$?
TOOL_PID=""
cat "$OUT"
say "the table above is kept in $OUT"
exit "$rc"
