#!/usr/bin/env bash
# Packaging test of libapache2-mod-ocsp-prefetch, on this Debian 12 or 13
# machine (scripts/test-trixie.sh runs it in a Debian 13 chroot), as root:
#
#   scripts/test-package.sh
#
#  1. copies the working tree (tracked and untracked, not ignored files) to a
#     temporary directory and builds the package there with
#     `dpkg-buildpackage -us -uc -b` (nothing is written into the checkout),
#     and the source package (an orig tarball of the tree without debian/,
#     then `dpkg-source -b`); runs lintian on both (.dsc and .changes) when
#     lintian is installed: no errors, no warnings;
#  2. installs the .deb with apt-get, checks that its postinst created the
#     helper's system user _ocsp-prefetch (with a group of its own, no home,
#     no login shell), `a2enmod ocsp_prefetch` (which enables ssl and
#     socache_shmcb when they are not enabled yet);
#  3. makes a test PKI (t/pki/mkpki.sh) and starts the test OCSP responder
#     (t/bin/ocsp-responder.pl) on 127.0.0.1, adds a site with a TLS virtual
#     host on 127.0.0.1 with `OCSPPrefetch on` (a2ensite), and starts the
#     system apache2 with apache2ctl (restarts it if it was running);
#  4. checks a good staple with `openssl s_client -status` and verifies the
#     stapled response against the issuer with `openssl ocsp -respin`; that
#     the privsep helper runs as _ocsp-prefetch (uid and gid in
#     /proc/PID/status, no supplementary group, NoNewPrivs), not as User;
#  5. stops apache2, a2dissite, a2dismod, `apt-get remove`, `apt-get purge`,
#     and checks that nothing is left: no module, no mods-available or
#     mods-enabled files, no a2enmod state, no store directory, no
#     _ocsp-prefetch user or group (remove keeps them, purge removes them).
#
# The machine is left as it was found (trap): modules and sites enabled by
# the test are disabled again, the a2enmod state under /var/lib/apache2 is
# restored, the package is purged, apache2 is left running or stopped as it
# was. /etc/apache2 and /var/lib/apache2 are compared with their state
# before the test. Everything the test serves or fetches is on 127.0.0.1;
# apache2 itself also opens the ports of /etc/apache2/ports.conf (80, and
# 443 while ssl is enabled). Bounded: the whole run is killed after
# OPF_PKGTEST_TIMEOUT seconds (default 900).
#
# Needs (besides the build dependencies in debian/control): dpkg-dev,
# debhelper, apache2, openssl, perl, libio-socket-ssl-perl,
# libnet-ssleay-perl; lintian is used when installed. faketime is optional
# (t/pki/mkpki.sh backdates the PKI with it).
#
# Environment: OPF_PKGTEST_TIMEOUT (seconds), OPF_PKGTEST_KEEP=1 (keep the
# temporary directory), OPF_PKGTEST_PORT (TLS port, default: a free one),
# OPF_PKGTEST_DEB=<path of a .deb> (skip step 1: test that package instead,
# e.g. one built on Debian 12, installed on 13 by scripts/test-trixie.sh).
set -euo pipefail

if [ -z "${OPF_PKGTEST_TIMED:-}" ]; then
    export OPF_PKGTEST_TIMED=1
    # TERM after the limit (the trap below cleans up), KILL 120 s later.
    exec timeout -k 120 "${OPF_PKGTEST_TIMEOUT:-900}" "$0" "$@"
fi

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PKG=libapache2-mod-ocsp-prefetch
MOD=ocsp_prefetch
SITE=ocsp-prefetch-pkgtest
SITE_CONF=/etc/apache2/sites-available/$SITE.conf
SO=/usr/lib/apache2/modules/mod_ocsp_prefetch.so
# The module's two programs, installed next to it.
PROGS="/usr/lib/apache2/modules/ocsp-prefetch-helper /usr/lib/apache2/modules/ocsp-prefetch-notifier"
STORE=/var/cache/apache2/ocsp_prefetch
HELPER=/usr/lib/apache2/modules/ocsp-prefetch-helper
HELPER_USER=_ocsp-prefetch
PIDFILE=/var/run/apache2/apache2.pid
ERRLOG=/var/log/apache2/error.log
export DEBIAN_FRONTEND=noninteractive
# Other apt/dpkg runs on the machine: wait for the lock instead of failing.
APT=(apt-get -y -q -o DPkg::Lock::Timeout=300)

say()  { printf '== %s\n' "$*"; }
ok()   { printf 'ok - %s\n' "$*"; }
die()  { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# ------------------------------------------------------------------ checks
[ "$(id -u)" = 0 ] || die "must run as root (installs a package, drives the system apache2)"
[ -r /etc/debian_version ] || die "not a Debian system"
for c in dpkg-buildpackage dpkg-checkbuilddeps apt-get a2enmod apache2ctl openssl perl git timeout; do
    command -v "$c" >/dev/null || die "$c not found (install dpkg-dev, apache2, openssl, perl, git)"
done
perl -MIO::Socket::SSL -MNet::SSLeay -e1 2>/dev/null \
    || die "perl IO::Socket::SSL / Net::SSLeay missing (apt-get install libio-socket-ssl-perl libnet-ssleay-perl)"
pkg_present() { # installed, half-installed or config files left
    local s
    s=$(dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null) || return 1
    [ -n "$s" ] && [[ $s != *not-installed ]]
}
if pkg_present; then
    die "$PKG is installed (or has config files left): this test installs and purges it; remove it first"
fi
[ ! -e "$STORE" ] || die "$STORE exists but $PKG is not installed: not touching it"
! getent passwd "$HELPER_USER" >/dev/null \
    || die "the user $HELPER_USER exists but $PKG is not installed: not touching it"
[ ! -e "$SITE_CONF" ] || die "$SITE_CONF exists: left over from an interrupted run? remove it first"
PREBUILT=${OPF_PKGTEST_DEB:-}
if [ -n "$PREBUILT" ]; then
    [ -f "$PREBUILT" ] || die "OPF_PKGTEST_DEB=$PREBUILT: no such file"
    PREBUILT=$(cd "$(dirname "$PREBUILT")" && pwd)/$(basename "$PREBUILT")
elif ! (cd "$TOP" && dpkg-checkbuilddeps); then
    die "build dependencies missing (see above; apt-get install them)"
fi

# ------------------------------------------------------------------ state
WORK=$(mktemp -d /tmp/opf-pkgtest.XXXXXX)
chmod 755 "$WORK"      # apt's _apt user reads the .deb from here
RESPONDER_PID=
APACHE_WAS_RUNNING=0
STARTED_APACHE=0
INSTALLED=0

apache_pid() {
    local pid
    pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}
apache_running() { apache_pid >/dev/null; }
wait_apache_gone() {
    for _ in $(seq 1 100); do
        apache_running || return 0
        sleep 0.2
    done
    return 1
}
wait_apache_up() { # apache2ctl returns before the new parent writes its pid file
    for _ in $(seq 1 100); do
        apache_running && return 0
        sleep 0.2
    done
    return 1
}
apache_stop() {
    apache_running || return 0
    timeout 30 apache2ctl stop || true
    wait_apache_gone || die "apache2 did not stop within 20 s"
}

snapshot() { # what a2enmod/a2ensite/dpkg may change, as one sorted listing
    find /etc/apache2 /var/lib/apache2 -printf '%p %y %l\n' 2>/dev/null | sort
}

# a2enmod/a2dismod record the admin's choices under /var/lib/apache2
# (empty marker files); put them back as they were.
restore_markers() {
    local path type
    snapshot | grep '^/var/lib/apache2' >"$WORK/markers.now"
    # extra entries, deepest first (a2dismod also creates *_by_admin dirs)
    comm -13 "$WORK/markers.before" "$WORK/markers.now" | sort -r | while read -r path type _; do
        case "$type" in
            d) rmdir "$path" 2>/dev/null || true ;;
            *) rm -f "$path" ;;
        esac
    done
    comm -23 "$WORK/markers.before" "$WORK/markers.now" | while read -r path type _; do
        case "$type" in
            d) mkdir -p "$path" ;;
            f) mkdir -p "$(dirname "$path")"; : >"$path" ;;
        esac
    done
}

# Undo whatever the run got to; each step is harmless when already done.
restore() {
    set +e
    if [ -n "$RESPONDER_PID" ]; then
        kill "$RESPONDER_PID" 2>/dev/null
        for _ in $(seq 1 25); do kill -0 "$RESPONDER_PID" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$RESPONDER_PID" 2>/dev/null
        RESPONDER_PID=
    fi
    if [ "$STARTED_APACHE" = 1 ]; then
        apache_stop
        STARTED_APACHE=0
    fi
    if [ -L "/etc/apache2/sites-enabled/$SITE.conf" ]; then
        a2dissite -q "$SITE" >/dev/null
    fi
    rm -f "$SITE_CONF"
    # Disable the modules this run enabled, dependants first.
    local m left
    for _ in 1 2 3 4; do
        left=
        for m in $(comm -13 "$WORK/mods.before" <(ls /etc/apache2/mods-enabled | sed -n 's/\.load$//p' | sort)); do
            a2dismod -q "$m" >/dev/null 2>&1 || left=1
        done
        [ -z "$left" ] && break
    done
    if [ "$INSTALLED" = 1 ] || pkg_present; then
        timeout 360 "${APT[@]}" purge "$PKG" >/dev/null 2>&1 || dpkg --purge "$PKG"
        INSTALLED=0
    fi
    rm -rf "$STORE"
    [ -f "$WORK/markers.before" ] && restore_markers
    if [ "$APACHE_WAS_RUNNING" = 1 ] && ! apache_running; then
        timeout 60 apache2ctl start && wait_apache_up
    fi
    set -e
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ "$rc" != 0 ]; then
        echo "-- failed (exit $rc); apache2 error log of this run:" >&2
        tail -c +"$((ERRLOG_OFFSET + 1))" "$ERRLOG" 2>/dev/null | tail -40 >&2
        [ -f "$WORK/responder.log" ] && { echo "-- responder log:" >&2; cat "$WORK/responder.log" >&2; }
        echo "-- restoring the machine" >&2
    fi
    restore
    if [ -f "$WORK/state.before" ] && ! diff -u "$WORK/state.before" <(snapshot) >"$WORK/state.diff"; then
        echo "FAIL: /etc/apache2 or /var/lib/apache2 differs from before the test:" >&2
        cat "$WORK/state.diff" >&2
        rc=1
    fi
    if [ "${OPF_PKGTEST_KEEP:-0}" = 1 ]; then
        echo "kept $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
ERRLOG_OFFSET=$(stat -c %s "$ERRLOG" 2>/dev/null || echo 0)
trap cleanup EXIT
trap 'exit 143' INT TERM

snapshot >"$WORK/state.before"
snapshot | grep '^/var/lib/apache2' >"$WORK/markers.before"
ls /etc/apache2/mods-enabled | sed -n 's/\.load$//p' | sort >"$WORK/mods.before"
apache_running && APACHE_WAS_RUNNING=1
say "apache2 running before the test: $([ $APACHE_WAS_RUNNING = 1 ] && echo yes || echo no)"

free_port() {
    perl -MIO::Socket::INET -e 'my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1",
        LocalPort => 0, Proto => "tcp", Listen => 1, ReuseAddr => 1) or die "$!\n";
        print $s->sockport, "\n"'
}

# ------------------------------------------------------------------ 1. build
if [ -n "$PREBUILT" ]; then
    say "OPF_PKGTEST_DEB: testing $PREBUILT (not building)"
    cp "$PREBUILT" "$WORK/"
    DEB=$WORK/$(basename "$PREBUILT")
    chmod 644 "$DEB"
    ok "package $(basename "$DEB") ($(dpkg-deb -f "$DEB" Version), $(dpkg-deb -f "$DEB" Architecture))"
else
    VERSION=$(dpkg-parsechangelog -l "$TOP/debian/changelog" -S Version)
    UPSTREAM=${VERSION%-*}
    say "build (dpkg-buildpackage -us -uc -b) in $WORK/build"
    SRC="$WORK/build/$PKG-$UPSTREAM"
    mkdir -p "$SRC"
    (cd "$TOP" && git ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
        | tar --null -T - -cf -) | tar -xf - -C "$SRC"
    # The source package first, from the pristine copy: 3.0 (quilt) wants an
    # orig tarball, here the same tree without debian/.
    tar -C "$WORK/build" --exclude="$PKG-$UPSTREAM/debian" \
        -czf "$WORK/build/${PKG}_$UPSTREAM.orig.tar.gz" "$PKG-$UPSTREAM"
    if ! (cd "$WORK/build" && timeout 300 dpkg-source -b "$PKG-$UPSTREAM") >"$WORK/source.log" 2>&1; then
        cat "$WORK/source.log" >&2
        die "dpkg-source -b failed"
    fi
    DSC=$(ls "$WORK"/build/${PKG}_*.dsc)
    ok "source package $(basename "$DSC")"
    if ! (cd "$SRC" && timeout 900 dpkg-buildpackage -us -uc -b) >"$WORK/build.log" 2>&1; then
        tail -40 "$WORK/build.log" >&2
        die "dpkg-buildpackage failed"
    fi
    DEB=$(ls "$WORK"/build/${PKG}_*.deb)
    CHANGES=$(ls "$WORK"/build/${PKG}_*.changes)
    ok "built $(basename "$DEB")"

    if command -v lintian >/dev/null; then
        say "lintian $(basename "$DSC") $(basename "$CHANGES") ($(lintian --version))"
        lrc=0
        timeout 300 lintian --fail-on error,warning -I "$DSC" "$CHANGES" >"$WORK/lintian.log" 2>&1 || lrc=$?
        grep -v '^running with root privileges' "$WORK/lintian.log" | sed 's/^/  /' || echo "  (no tags)"
        [ "$lrc" = 0 ] || die "lintian reports errors or warnings (exit $lrc)"
        ok "lintian: no errors or warnings (source and binary packages)"
    else
        say "lintian not installed: skipped"
    fi
fi

# ------------------------------------------------------------------ 2. install
say "apt-get install $(basename "$DEB")"
INSTALLED=1
timeout 360 "${APT[@]}" install --no-install-recommends "$DEB" >"$WORK/apt.log" 2>&1 \
    || { cat "$WORK/apt.log" >&2; die "apt-get install failed"; }
[ -f "$SO" ] || die "$SO not installed"
for p in $PROGS; do [ -x "$p" ] || die "$p not installed"; done
[ -f /etc/apache2/mods-available/$MOD.load ] && [ -f /etc/apache2/mods-available/$MOD.conf ] \
    || die "mods-available/$MOD.load or .conf missing"
[ ! -e /etc/apache2/mods-enabled/$MOD.load ] || die "the package enabled the module by itself"
ok "installed: $SO, its programs ($PROGS), mods-available/$MOD.{load,conf}; not enabled until a2enmod"

# The helper's own system user (issue 13), created by the postinst.
IFS=: read -r _ _ HELPER_UID HELPER_GID _ HELPER_HOME HELPER_SHELL \
    < <(getent passwd "$HELPER_USER") || die "postinst did not create the user $HELPER_USER"
[ "$(getent group "$HELPER_GID" | cut -d: -f1)" = "$HELPER_USER" ] \
    || die "$HELPER_USER's primary group is not a group $HELPER_USER of its own"
[ "$HELPER_UID" -gt 0 ] && [ "$HELPER_UID" -lt 1000 ] || die "$HELPER_USER is not a system user (uid $HELPER_UID)"
[ "$HELPER_HOME" = /nonexistent ] && [ ! -e /nonexistent ] || die "$HELPER_USER has a home ($HELPER_HOME)"
case "$HELPER_SHELL" in */nologin|*/false) ;; *) die "$HELPER_USER has a login shell ($HELPER_SHELL)" ;; esac
ok "system user $HELPER_USER (uid $HELPER_UID, group $HELPER_USER $HELPER_GID, no home, $HELPER_SHELL)"

say "a2enmod $MOD"
a2enmod "$MOD"
for m in $MOD ssl socache_shmcb; do
    [ -L "/etc/apache2/mods-enabled/$m.load" ] || die "a2enmod $MOD did not enable $m"
done
ok "a2enmod enabled $MOD, ssl and socache_shmcb"

# The defaults listed (commented) in the shipped ocsp_prefetch.conf must be
# valid configuration: uncomment them all and run a configuration test.
sed -n 's/^\( *\)#\(OCSPPrefetch\|Mutex\|LogLevel\)/\1\2/p' \
    /etc/apache2/mods-available/$MOD.conf >"$WORK/defaults.conf"
if ! timeout 30 apache2ctl -t -c "Include $WORK/defaults.conf" >"$WORK/configtest.out" 2>&1; then
    cat "$WORK/defaults.conf" "$WORK/configtest.out" >&2
    die "the defaults of mods-available/$MOD.conf, uncommented, fail apache2ctl -t"
fi
ok "the $(wc -l <"$WORK/defaults.conf") commented defaults of $MOD.conf pass apache2ctl -t"

# ------------------------------------------------------------------ 3. PKI, responder, site
RPORT=$(free_port)
say "test PKI (t/pki/mkpki.sh, responder port $RPORT)"
sh "$TOP/t/pki/mkpki.sh" "$WORK/pki" "$RPORT" >"$WORK/pki.log" 2>&1 \
    || { cat "$WORK/pki.log" >&2; die "mkpki.sh failed"; }
PKI=$WORK/pki
mkdir -p "$WORK/responder-tmp"
perl "$TOP/t/bin/ocsp-responder.pl" --port "$RPORT" --pki "$PKI" \
    --log "$WORK/responder.log" --lifetime 600 --tmp "$WORK/responder-tmp" \
    </dev/null >"$WORK/responder.out" 2>&1 &
RESPONDER_PID=$!
for _ in $(seq 1 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$RPORT") 2>/dev/null && break
    kill -0 "$RESPONDER_PID" 2>/dev/null || { cat "$WORK/responder.out" >&2; die "responder died"; }
    sleep 0.2
done
ok "OCSP responder on 127.0.0.1:$RPORT (pid $RESPONDER_PID)"

PORT=${OPF_PKGTEST_PORT:-$(free_port)}
say "site $SITE: TLS on 127.0.0.1:$PORT, OCSPPrefetch on"
cat >"$SITE_CONF" <<EOF
# Written by mod_ocsp_prefetch's scripts/test-package.sh; removed by it.
Listen 127.0.0.1:$PORT https
LogLevel ocsp_prefetch:debug
<VirtualHost 127.0.0.1:$PORT>
    ServerName good.test
    SSLEngine on
    SSLCertificateFile $PKI/leaves/good.chain.pem
    SSLCertificateKeyFile $PKI/leaves/good.key
    OCSPPrefetch on
</VirtualHost>
OCSPPrefetchExport $WORK/export
OCSPPrefetchNotifyCmd $WORK/notify.sh
EOF
printf '#!/bin/sh\necho "$*" >> %s/events.txt\n' "$WORK" >"$WORK/notify.sh"
chmod 0755 "$WORK/notify.sh"
a2ensite -q "$SITE"
if ! timeout 30 apache2ctl configtest >"$WORK/configtest.out" 2>&1; then
    cat "$WORK/configtest.out" >&2
    die "apache2ctl configtest failed"
fi

if [ "$APACHE_WAS_RUNNING" = 1 ]; then
    say "apache2ctl restart"
    STARTED_APACHE=1
    timeout 60 apache2ctl restart
    sleep 1     # the parent re-reads its configuration
else
    say "apache2ctl start"
    STARTED_APACHE=1
    timeout 60 apache2ctl start
fi
wait_apache_up || die "apache2 did not come up"

# ------------------------------------------------------------------ 4. staple
# The first handshake after a cold start is stapled (the startup wait); a
# restart does not wait, so give the prefetch thread a few seconds.
say "openssl s_client -status -connect 127.0.0.1:$PORT"
got=
for _ in $(seq 1 30); do
    timeout 15 openssl s_client -connect "127.0.0.1:$PORT" -servername good.test \
        -status -CAfile "$PKI/ca-chain.pem" </dev/null >"$WORK/s_client.out" 2>&1 || true
    if grep -q 'OCSP Response Status: successful' "$WORK/s_client.out"; then got=1; break; fi
    apache_running || die "apache2 is not running"
    sleep 0.5
done
[ -n "$got" ] || { cat "$WORK/s_client.out" >&2; die "no staple from 127.0.0.1:$PORT"; }
awk '/^OCSP response:/ { p = 1 }
     p && /(OCSP Response Status|Serial Number|Cert Status|This Update|Next Update):/ { print "  " $0 }
     p && /Next Update:/ { exit }' "$WORK/s_client.out"
grep -q 'Cert Status: good' "$WORK/s_client.out" || die "stapled status is not good"
grep -q 'Verify return code: 0 (ok)' "$WORK/s_client.out" || die "certificate chain did not verify"
ok "s_client: OCSP Response Status: successful, Cert Status: good, Verify return code: 0 (ok)"

say "openssl ocsp -respin (the stapled DER, verified against the issuer)"
perl -MIO::Socket::SSL=SSL_VERIFY_NONE,SSL_OCSP_TRY_STAPLE -MNet::SSLeay -e '
    my ($port, $out) = @ARGV; my $der;
    my $s = IO::Socket::SSL->new(PeerHost => "127.0.0.1", PeerPort => $port,
        SSL_hostname => "good.test", SSL_verify_mode => SSL_VERIFY_NONE,
        SSL_ocsp_mode => SSL_OCSP_TRY_STAPLE, Timeout => 10,
        SSL_ocsp_staple_callback => sub { $der = Net::SSLeay::i2d_OCSP_RESPONSE($_[1]) if $_[1] })
        or die "handshake: $IO::Socket::SSL::SSL_ERROR\n";
    $s->close(SSL_fast_shutdown => 1);
    defined $der or die "no staple\n";
    open my $fh, ">", $out or die "$out: $!\n"; binmode $fh; print $fh $der; close $fh;
' "$PORT" "$WORK/staple.der"
openssl ocsp -respin "$WORK/staple.der" -issuer "$PKI/int.pem" -cert "$PKI/leaves/good.pem" \
    -CAfile "$PKI/ca-chain.pem" >"$WORK/ocsp.out" 2>&1 || true
sed 's/^/  /' "$WORK/ocsp.out"
grep -q '^Response verify OK' "$WORK/ocsp.out" || die "stapled response does not verify against the issuer"
grep -q "good.pem: good" "$WORK/ocsp.out" || die "stapled response does not say good for the certificate"
ok "openssl ocsp: Response verify OK, good"

grep -q 'GET good 200\|POST good 200' "$WORK/responder.log" \
    || die "the responder was not asked (staple not from mod_ocsp_prefetch?)"
ok "fetched by the module ($(wc -l <"$WORK/responder.log") responder request(s)); its log lines:"
tail -c +"$((ERRLOG_OFFSET + 1))" "$ERRLOG" | grep 'ocsp_prefetch' | sed 's/^/  /' | tail -8 || true
# The package's default: the privsep helper it installs fetches and validates.
tail -c +"$((ERRLOG_OFFSET + 1))" "$ERRLOG" \
    | grep -q 'OCSPPrefetchPrivsep: helper process [0-9]* (/usr/lib/apache2/modules/ocsp-prefetch-helper) fetches and validates' \
    || die "the installed privsep helper did not run (OCSPPrefetchPrivsep is on by default)"
ok "fetched and validated by the installed privsep helper, the default"

# It runs as the package's user, not as User (www-data), without any
# supplementary group and with no_new_privs.
APACHE_PID=$(apache_pid) || die "apache2 is not running"
HELPER_PID=
for p in $(pgrep -P "$APACHE_PID"); do
    [ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$HELPER" ] && HELPER_PID=$p
done
[ -n "$HELPER_PID" ] || die "no $HELPER process among apache2's children"
status=$(cat "/proc/$HELPER_PID/status")
uids=$(printf '%s\n' "$status" | sed -n 's/^Uid:[[:space:]]*//p' | tr -s '[:space:]' ' ')
gids=$(printf '%s\n' "$status" | sed -n 's/^Gid:[[:space:]]*//p' | tr -s '[:space:]' ' ')
[ "$uids" = "$HELPER_UID $HELPER_UID $HELPER_UID $HELPER_UID " ] \
    || die "the helper (pid $HELPER_PID) runs as uids $uids, not $HELPER_USER ($HELPER_UID)"
[ "$gids" = "$HELPER_GID $HELPER_GID $HELPER_GID $HELPER_GID " ] \
    || die "the helper (pid $HELPER_PID) runs as gids $gids, not $HELPER_USER's group ($HELPER_GID)"
printf '%s\n' "$status" | grep -q '^Groups:[[:space:]]*$' || die "the helper has supplementary groups"
printf '%s\n' "$status" | grep -q '^NoNewPrivs:[[:space:]]*1$' || die "the helper lacks no_new_privs"
tail -c +"$((ERRLOG_OFFSET + 1))" "$ERRLOG" | grep -q 'OCSPPrefetchHelperUser' \
    && die "the error log has a line about OCSPPrefetchHelperUser (the user exists)"
ok "the helper (pid $HELPER_PID) runs as $HELPER_USER ($HELPER_UID:$HELPER_GID), no supplementary group, NoNewPrivs 1"

# OCSPPrefetchExport (issue 16, item 2): the staple, as DER, named after
# the certificate file, for the host's other TLS servers.
EXPORTED=$WORK/export/good.chain.pem.ocsp
for _ in $(seq 1 20); do [ -f "$EXPORTED" ] && break; sleep 0.25; done
[ -f "$EXPORTED" ] || die "OCSPPrefetchExport: $EXPORTED not written"
[ "$(stat -c %a "$EXPORTED")" = 644 ] || die "$EXPORTED is not mode 0644"
cmp -s "$EXPORTED" "$WORK/staple.der" || die "$EXPORTED differs from the staple"
ok "OCSPPrefetchExport: $(basename "$EXPORTED") (0644) holds the response stapled"

# OCSPPrefetchNotifyCmd: run by the installed ocsp-prefetch-notifier, an
# exec'd program (not a fork of apache2), found next to the helper.
for _ in $(seq 1 20); do grep -q '^exported ' "$WORK/events.txt" 2>/dev/null && break; sleep 0.25; done
grep -q '^renewed CN=good.test' "$WORK/events.txt" 2>/dev/null \
    || die "OCSPPrefetchNotifyCmd: no 'renewed' event ran ($(cat "$WORK/events.txt" 2>/dev/null))"
NOTIFIER_PIDS=$(for c in /proc/[0-9]*; do
    [ "$(awk '{print $4}' "$c/stat" 2>/dev/null)" = "$(apache_pid)" ] || continue
    [ "$(readlink "$c/exe" 2>/dev/null)" = /usr/lib/apache2/modules/ocsp-prefetch-notifier ] && echo "${c#/proc/}"
done)
[ "$(echo "$NOTIFIER_PIDS" | wc -w)" = 1 ] || die "not one ocsp-prefetch-notifier child of apache2: '$NOTIFIER_PIDS'"
ok "OCSPPrefetchNotifyCmd: the events ran from the installed ocsp-prefetch-notifier (pid $NOTIFIER_PIDS)"

# Documents (issue 16, item 6): what README points to is installed,
# uncompressed, and the shipped example configuration is wrapped in
# <IfModule>: with the module disabled it still passes a configuration
# test (so a2dismod or removing the package does not break apache2).
DOC=/usr/share/doc/$PKG
for f in README.md SECURITY.md BENCHMARKS.md docs/directives.md docs/status.md \
         docs/troubleshooting.md docs/migrating.md; do
    [ -f "$DOC/$f" ] || die "$DOC/$f not installed (README.md points to it)"
done
missing=
for f in $(grep -o '\(docs/[a-z]*\.md\|SECURITY\.md\|BENCHMARKS\.md\)' "$DOC/README.md" | sort -u); do
    [ -f "$DOC/$f" ] || missing="$missing $f"
done
[ -z "$missing" ] || die "README.md points to$missing, not installed"
ok "documents installed uncompressed in $DOC, every one README.md points to"

# ------------------------------------------------------------------ 5. remove, purge
say "apache2ctl stop, a2dissite $SITE, a2dismod $MOD"
apache_stop
STARTED_APACHE=0
a2dissite -q "$SITE"
rm -f "$SITE_CONF"
a2dismod -q "$MOD"
[ ! -e /etc/apache2/mods-enabled/$MOD.load ] || die "a2dismod left mods-enabled/$MOD.load"
EXAMPLE=$DOC/examples/example-vhost.conf
[ -f "$EXAMPLE" ] || EXAMPLE=$EXAMPLE.gz
zcat -f "$EXAMPLE" | sed -e "s|^\( *SSLCertificateFile\) .*|\1 $PKI/leaves/good.chain.pem|" \
    -e "s|^\( *SSLCertificateKeyFile\) .*|\1 $PKI/leaves/good.key|" >"$WORK/example.conf"
if ! timeout 30 apache2ctl -t -c "Include $WORK/example.conf" >"$WORK/configtest.out" 2>&1; then
    cat "$WORK/configtest.out" >&2
    die "with the module disabled, the shipped example-vhost.conf fails apache2ctl -t (not in <IfModule>?)"
fi
ok "module disabled: the shipped example-vhost.conf still passes apache2ctl -t"

if [ -d "$STORE" ]; then
    ok "the module created its store $STORE ($(find "$STORE" -type f | wc -l) file(s))"
else
    # Today's module keeps no store: stand in for a future one, so that
    # the purge below is tested all the same.
    mkdir -p "$STORE" && : >"$STORE/pkgtest-marker"
    ok "no store created by the module; made $STORE for the purge test"
fi

say "apt-get remove $PKG"
timeout 360 "${APT[@]}" remove "$PKG" >"$WORK/apt.log" 2>&1 \
    || { cat "$WORK/apt.log" >&2; die "apt-get remove failed"; }
[ ! -e "$SO" ] || die "remove left $SO"
for p in $PROGS; do [ ! -e "$p" ] || die "remove left $p"; done
if compgen -G "/etc/apache2/mods-enabled/$MOD.*" >/dev/null; then die "remove left mods-enabled/$MOD.*"; fi
[ -f /etc/apache2/mods-available/$MOD.load ] || die "remove deleted the conffile $MOD.load (only purge should)"
[ -e "$STORE" ] || die "remove deleted $STORE (only purge should)"
getent passwd "$HELPER_USER" >/dev/null || die "remove deleted the user $HELPER_USER (only purge should)"
ok "removed: module gone, conffiles and user $HELPER_USER kept (status: $(dpkg-query -W -f='${Status}' "$PKG"))"

say "apt-get purge $PKG"
timeout 360 "${APT[@]}" purge "$PKG" >"$WORK/apt.log" 2>&1 \
    || { cat "$WORK/apt.log" >&2; die "apt-get purge failed"; }
INSTALLED=0
pkg_present && die "$PKG still known to dpkg after purge"
left=$(find /etc/apache2 /usr/lib/apache2/modules /usr/share/doc/$PKG /var/lib/apache2 "$STORE" \
        -name "*$MOD*" -o -path "/usr/share/doc/$PKG*" -o -path "$STORE*" 2>/dev/null || true)
[ -z "$left" ] || die "left behind after purge: $left"
getent passwd "$HELPER_USER" >/dev/null && die "purge left the user $HELPER_USER"
getent group "$HELPER_USER" >/dev/null && die "purge left the group $HELPER_USER"
ok "purged: no module, no mods-available/mods-enabled files, no a2enmod state, no $STORE, no user $HELPER_USER"

# ------------------------------------------------------------------ restore
say "restoring the modules this run enabled, a2enmod state, apache2"
restore
diff -u "$WORK/state.before" <(snapshot) >"$WORK/state.diff" \
    || { cat "$WORK/state.diff" >&2; die "/etc/apache2 or /var/lib/apache2 differs from before"; }
if [ "$APACHE_WAS_RUNNING" = 1 ]; then
    apache_running || die "apache2 was running before and is not now"
else
    apache_running && die "apache2 was stopped before and runs now"
fi
ok "/etc/apache2 and /var/lib/apache2 as before; apache2 $([ $APACHE_WAS_RUNNING = 1 ] && echo running || echo stopped) as before"
echo "PASS: package test"
