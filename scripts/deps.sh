#!/usr/bin/env bash
# Debian 12 and 13 packages that building mod_ocsp_prefetch, its demo and
# its test suite need. One list, used by scripts/demo.sh, scripts/test.sh,
# .ci/run and scripts/test-trixie.sh (inside its Debian 13 chroot).
#
#   . scripts/deps.sh; deps_ensure     install what is missing (root only)
#   . scripts/deps.sh; deps_install    apt-get update + install all (CI)
#   sh scripts/deps.sh                 print the list
#
# Why each one is here:
#   build-essential autoconf automake libtool pkgconf   autoreconf, cc, make
#                              (pkgconf: pkg-config is only a transitional
#                              package for it on 12 and 13)
#   apache2 apache2-dev        httpd (/usr/sbin/apache2, mod_ssl, socache_shmcb,
#                              mod_macro) and apxs + headers
#   libssl-dev libapr1-dev libaprutil1-dev   OpenSSL 3, APR, APR-util
#   openssl                    the CA (t/pki/mkpki.sh), the OCSP responder
#                              (openssl ocsp), s_client, staple verification
#   faketime                   backdated test PKI, expired/future responses
#   perl                       prove, t/TEST, the responder script
#   libapache2-mod-perl2       Apache-Test (Apache::Test, Apache::TestRun)
#   libio-socket-ssl-perl libnet-ssleay-perl   TLS client reading the staple
#   gnutls-bin                 a strict TLS client and DER parser (gnutls-cli,
#                              ocsptool): staples must be canonical DER
#   redis-server memcached     real fleet caches for t/fleet/ (the suite
#                              starts and stops its own instances)
#   haproxy socat nginx        t/export/41, 43: HAProxy and nginx stapling
#                              OCSPPrefetchExport's file, updated by the
#                              docs' notify scripts
#   debhelper dpkg-dev fakeroot lintian git   the Debian package and its test
#                              (scripts/test-package.sh)
OPF_DEPS="build-essential autoconf automake libtool pkgconf
apache2 apache2-dev libssl-dev libapr1-dev libaprutil1-dev
openssl faketime perl
libapache2-mod-perl2 libio-socket-ssl-perl libnet-ssleay-perl gnutls-bin
redis-server memcached haproxy socat nginx
debhelper dpkg-dev fakeroot lintian git clang-format"

# Prints the packages of OPF_DEPS that are not installed.
deps_missing() {
    local p
    for p in $OPF_DEPS; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null \
            | grep -q '^install ok installed$' || echo "$p"
    done
}

# apt-get update + install of the given packages, non-interactively. The
# Debian apache2 package starts the system apache2 service when installed;
# a temporary policy-rc.d keeps it from starting, and is removed right after
# (an existing policy-rc.d is left alone).
deps_apt_install() {
    local policy=/usr/sbin/policy-rc.d made_policy="" rc=0 i
    export DEBIAN_FRONTEND=noninteractive
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# temporary, from mod_ocsp_prefetch scripts/deps.sh\nexit 101\n' > "$policy"
        chmod 0755 "$policy"
        made_policy=1
    fi
    for i in 1 2 3; do
        apt-get update -q && break
        [ "$i" = 3 ] && { rc=1; break; }
        sleep 5
    done
    if [ "$rc" = 0 ]; then
        apt-get install -y -q --no-install-recommends "$@" </dev/null || rc=$?
    fi
    [ -n "$made_policy" ] && rm -f "$policy"
    return "$rc"
}

# Installs every package of OPF_DEPS (CI).
deps_install() {
    # shellcheck disable=SC2086
    deps_apt_install $OPF_DEPS
}

# Installs the missing packages if we are root; otherwise says what is
# missing and fails.
deps_ensure() {
    local missing
    missing=$(deps_missing | tr '\n' ' ')
    missing=${missing% }
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "== installing missing packages: $missing"
        # shellcheck disable=SC2086
        deps_apt_install $missing
    else
        echo "missing packages: $missing" >&2
        echo "run this script as root to install them with apt-get, or ask an administrator to install them" >&2
        return 1
    fi
}

# Run directly: print the list.
if [ "${0##*/}" = deps.sh ]; then
    # shellcheck disable=SC2086
    echo $OPF_DEPS
fi
