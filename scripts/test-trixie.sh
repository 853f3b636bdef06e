#!/usr/bin/env bash
# Debian 13 "trixie": build, test and package there too, from this Debian 12
# machine, as root (CI runs it after the Debian 12 steps of .ci/run):
#
#   scripts/test-trixie.sh
#
#  1. mmdebstrap --variant=minbase trixie from the package mirror into a
#     temporary directory inside the clone (.trixie.XXXXXX/, ignored by git,
#     deleted at the end); meanwhile the Debian package is built on the host
#     (Debian 12, DEB_BUILD_OPTIONS=nocheck) for step 6;
#  2. inside the chroot: scripts/deps.sh's list, installed with its
#     deps_install (apt-get, the host's network);
#  3. copies the working tree into the chroot (/src: tracked and untracked,
#     not ignored files; a build of its own, the host's is left alone);
#  4. everything from here on runs in namespaces of its own: network with
#     only loopback up (no port of the host is seen or taken, nothing
#     outside is reachable), mounts (/proc, /sys, a minimal /dev, all gone
#     when it ends), pids (whatever is left running is killed when it
#     ends), IPC and UTS: scripts/test.sh (scripts/build.sh, the unit
#     tests and the Apache-Test suite), then scripts/demo.sh (the README's
#     two set-up commands, unchanged);
#  5. scripts/test-package.sh: the source and binary packages built on
#     trixie, lintian (no errors or warnings), install, a2enmod, a
#     verified staple from the chroot's apache2, remove, purge;
#  6. scripts/test-package.sh OPF_PKGTEST_DEB=<the .deb built on Debian 12>:
#     a package built on 12 installs and staples on 13.
#
# Sections are announced by "== trixie: ..." lines; the exit status is 0 only
# when every step passed. The chroot and the host build are removed at the
# end, also on failure, Ctrl-C or timeout (trap); nothing is cached outside
# the clone. Bounded: killed after OPF_TRIXIE_TIMEOUT seconds (default 2700).
#
# Needs: root, mmdebstrap and iproute2 (installed with apt-get when
# missing), unshare (util-linux), the package mirror, and some disk space
# in the clone while it runs (the summary says how much).
#
# Environment: OPF_TRIXIE_MIRROR (default http://deb.debian.org/debian),
# OPF_TRIXIE_SECURITY (default http://deb.debian.org/debian-security; "none"
# to leave trixie-security out), OPF_TRIXIE_TIMEOUT (seconds),
# OPF_TRIXIE_KEEP=1 (keep the chroot and its logs: .trixie.XXXXXX/root, to be
# removed by hand), OPF_TRIXIE_DEMO=0 (skip scripts/demo.sh).
set -euo pipefail

if [ -z "${OPF_TRIXIE_TIMED:-}" ]; then
    export OPF_TRIXIE_TIMED=1
    # TERM after the limit (the trap below cleans up), KILL 120 s later.
    exec timeout -k 120 "${OPF_TRIXIE_TIMEOUT:-2700}" "$0" "$@"
fi

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$TOP"
SUITE=trixie
MIRROR=${OPF_TRIXIE_MIRROR:-http://deb.debian.org/debian}
SECURITY=${OPF_TRIXIE_SECURITY:-http://deb.debian.org/debian-security}
PKG=libapache2-mod-ocsp-prefetch
export DEBIAN_FRONTEND=noninteractive
T0=$(date +%s)

say()  { printf '== trixie: %s\n' "$*"; }
die()  { printf '== trixie: FAIL: %s\n' "$*" >&2; exit 1; }
since() { local s; s=$(($(date +%s) - $1)); printf '%dm%02ds' $((s / 60)) $((s % 60)); }

[ "$(id -u)" = 0 ] || die "must run as root (mmdebstrap, chroot, namespaces)"
command -v unshare >/dev/null || die "unshare not found (util-linux)"
# shellcheck source=scripts/deps.sh
. scripts/deps.sh
# The host builds the Debian 12 package: its build dependencies (and this
# script's own tools) are installed when missing.
OPF_DEPS="$OPF_DEPS mmdebstrap iproute2" deps_ensure </dev/null \
    || die "missing packages on the host"

WORK=$(mktemp -d "$TOP/.trixie.XXXXXX")
R=$WORK/root
NS_PID=
HOST_BUILD_PID=

# Unmounts whatever is still mounted below $WORK (nothing should be: every
# mount is made in a private mount namespace that dies with its processes).
unmount_leftovers() {
    local m
    awk -v w="$WORK/" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r \
        | while read -r m; do
            echo "== trixie: unmounting leftover mount $m" >&2
            umount -l "$m" 2>/dev/null || true
        done
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    [ -n "$NS_PID" ] && kill -TERM "$NS_PID" 2>/dev/null && wait "$NS_PID" 2>/dev/null
    [ -n "$HOST_BUILD_PID" ] && kill -TERM -- "-$HOST_BUILD_PID" 2>/dev/null && wait "$HOST_BUILD_PID" 2>/dev/null
    unmount_leftovers
    if [ "${OPF_TRIXIE_KEEP:-0}" = 1 ]; then
        say "kept $WORK (the chroot: $R); remove it with rm -rf --one-file-system"
    else
        rm -rf --one-file-system "$WORK" || echo "== trixie: could not remove all of $WORK" >&2
    fi
    if [ "$rc" = 0 ]; then
        say "PASS ($(since "$T0"))"
    else
        say "FAIL (exit $rc, after $(since "$T0"))" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' INT TERM

# ns_main ROOT NET COMMAND: run by unshare (new mount, pid, IPC and UTS
# namespaces, and a network one when NET=1). Mounts /proc, /sys and a
# minimal /dev into ROOT (private to this namespace: they go away with it,
# whatever happens), brings loopback up, and runs COMMAND in the chroot as
# root with a clean environment.
ns_main() {
    local r=$1 net=$2 cmd=$3 d
    set -e
    mount --make-rprivate /
    if [ "$net" = 1 ]; then
        ip link set lo up
    fi
    mount -t proc -o nosuid,nodev,noexec proc "$r/proc"
    mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$r/sys" 2>/dev/null || true
    mount -t tmpfs -o mode=0755,nosuid,size=64m tmpfs "$r/dev"
    for d in null zero full random urandom tty; do
        : >"$r/dev/$d"
        mount --bind "/dev/$d" "$r/dev/$d"
    done
    mkdir -m 0755 "$r/dev/pts"
    mkdir -m 1777 "$r/dev/shm"
    mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$r/dev/pts"
    mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$r/dev/shm"
    ln -s pts/ptmx "$r/dev/ptmx"
    ln -s /proc/self/fd "$r/dev/fd"
    ln -s /proc/self/fd/0 "$r/dev/stdin"
    ln -s /proc/self/fd/1 "$r/dev/stdout"
    ln -s /proc/self/fd/2 "$r/dev/stderr"
    exec chroot "$r" /usr/bin/env -i \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root USER=root LOGNAME=root LANG=C.UTF-8 TERM=dumb \
        DEBIAN_FRONTEND=noninteractive CI="${CI:-}" \
        /bin/bash -c "$cmd"
}

# in_chroot NET COMMAND: COMMAND in the chroot, in its own namespaces
# (NET=1: its own network namespace, only loopback). In the background and
# waited for, so that a signal reaches the trap at once; unshare's
# --kill-child takes the whole pid namespace down with it.
in_chroot() {
    local net=$1 cmd=$2 opts=(--mount --pid --ipc --uts --fork --kill-child) rc=0
    [ "$net" = 1 ] && opts+=(--net)
    unshare "${opts[@]}" /bin/bash -c "$(declare -f ns_main); ns_main \"\$@\"" \
        ns_main "$R" "$net" "$cmd" </dev/null &
    NS_PID=$!
    wait "$NS_PID" || rc=$?
    NS_PID=
    return "$rc"
}

# copy_tree DIR: the working tree's tracked and untracked, not ignored files
# (never a chroot of this script) into DIR
copy_tree() {
    git ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' f; do
            case "$f" in .trixie.*) continue ;; esac
            [ -e "$f" ] && printf '%s\0' "$f"
        done \
        | tar --null -T - -cf - | tar -xf - -C "$1"
}

# ------------------------------------------------------------------ 1. chroot
SOURCES=("deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main")
[ "$SECURITY" = none ] || SOURCES+=("deb $SECURITY $SUITE-security main")
say "host: $(. /etc/os-release && echo "$PRETTY_NAME"), $(openssl version | cut -d' ' -f1-2)"
say "building the package on the host (Debian $(cat /etc/debian_version), nocheck) in the background"
VERSION=$(dpkg-parsechangelog -l debian/changelog -S Version)
HOST_SRC=$WORK/host-build/$PKG-${VERSION%-*}
mkdir -p "$HOST_SRC"
copy_tree "$HOST_SRC"
# a session of its own, so that the cleanup can stop all of it (make, cc)
setsid sh -c 'cd "$1" && DEB_BUILD_OPTIONS=nocheck exec dpkg-buildpackage -us -uc -b' \
    sh "$HOST_SRC" </dev/null >"$WORK/host-build.log" 2>&1 &
HOST_BUILD_PID=$!

t=$(date +%s)
say "mmdebstrap --variant=minbase $SUITE ($MIRROR)"
mkdir -m 0755 "$R"
# in a mount namespace of its own too: nothing it mounts can outlive it
if ! unshare --mount --fork --kill-child \
        mmdebstrap --variant=minbase --mode=root --quiet "$SUITE" "$R" "${SOURCES[@]}" \
        </dev/null >"$WORK/mmdebstrap.log" 2>&1; then
    tail -30 "$WORK/mmdebstrap.log" >&2
    die "mmdebstrap failed"
fi
say "chroot created ($(since "$t")): Debian $(cat "$R/etc/debian_version")"

# ------------------------------------------------------------------ 2. packages
t=$(date +%s)
mkdir -m 0755 "$R/src"
copy_tree "$R/src"
chmod 0755 "$R/src"
# a repository with nothing committed: the scripts list the tree with
# `git ls-files --others --exclude-standard`, as in a clone
git init -q "$R/src"
cp -L /etc/resolv.conf "$R/etc/resolv.conf"
# no service starts in the chroot (apache2, redis-server, memcached): the
# suite starts the servers it needs, on ports of its own
printf '#!/bin/sh\nexit 101\n' >"$R/usr/sbin/policy-rc.d"
chmod 0755 "$R/usr/sbin/policy-rc.d"
say "apt-get install (scripts/deps.sh: $(echo "$OPF_DEPS" | wc -w) packages) in the chroot"
if ! in_chroot 0 'cd /src && . scripts/deps.sh && deps_install' >"$WORK/deps.log" 2>&1; then
    tail -30 "$WORK/deps.log" >&2
    die "installing scripts/deps.sh's packages in the chroot failed"
fi
say "packages installed ($(since "$t")): $(chroot "$R" openssl version | cut -d' ' -f1-2)," \
    "$(chroot "$R" dpkg-query -W -f='apache2 ${Version}, ' apache2)$(chroot "$R" dpkg-query -W -f='lintian ${Version}' lintian)"

# ------------------------------------------------------------------ 3.-6. tests
# Each step runs whatever happened to the one before; the script fails at
# the end if any did.
FAILED=()
SUMMARY=()
step() { # step NAME COMMAND...: runs COMMAND, records PASS or FAIL
    local name=$1 t rc=0
    shift
    t=$(date +%s)
    say "$name"
    "$@" || rc=$?
    if [ "$rc" = 0 ]; then
        SUMMARY+=("PASS $(since "$t") $name")
        say "passed ($(since "$t")): $name"
    else
        SUMMARY+=("FAIL $(since "$t") $name")
        FAILED+=("$name")
        say "FAILED (exit $rc, $(since "$t")): $name" >&2
    fi
}

demo() {
    in_chroot 1 'cd /src && scripts/demo.sh' >"$WORK/demo.log" 2>&1 \
        || { tail -40 "$WORK/demo.log" >&2; return 1; }
    grep '^Stapled OCSP response: good, verified' "$WORK/demo.log" \
        || { tail -40 "$WORK/demo.log" >&2; echo "no verified staple" >&2; return 1; }
}

host_deb() { # the package built on the host in the background, then tested
    local rc=0 deb
    wait "$HOST_BUILD_PID" || rc=$?
    HOST_BUILD_PID=
    if [ "$rc" != 0 ]; then
        tail -40 "$WORK/host-build.log" >&2
        echo "dpkg-buildpackage on the host failed (exit $rc)" >&2
        return 1
    fi
    deb=$(ls "$WORK"/host-build/${PKG}_*.deb)
    mkdir -m 0755 "$R/debs"
    cp "$deb" "$R/debs/"
    in_chroot 1 "cd /src && OPF_PKGTEST_DEB=/debs/$(basename "$deb") scripts/test-package.sh"
}

step "scripts/test.sh (build, unit tests, Apache-Test suite; network: loopback only)" \
    in_chroot 1 'cd /src && scripts/test.sh'
if [ "${OPF_TRIXIE_DEMO:-1}" = 1 ]; then
    step "scripts/demo.sh (a verified staple)" demo
fi
step "scripts/test-package.sh (source and binary packages built on $SUITE)" \
    in_chroot 1 'cd /src && scripts/test-package.sh'
step "scripts/test-package.sh OPF_PKGTEST_DEB=<the .deb built on Debian $(cat /etc/debian_version)>" \
    host_deb

say "summary ($(du -sh --one-file-system "$WORK" 2>/dev/null | cut -f1) of disk used in $WORK):"
printf '  %s\n' "${SUMMARY[@]}"
[ "${#FAILED[@]}" = 0 ] || die "${#FAILED[@]} step(s) failed on $SUITE: ${FAILED[*]}"
