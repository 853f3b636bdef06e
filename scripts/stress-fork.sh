#!/usr/bin/env bash
# Fork-safety stress run (issue 3, item 4): prefork MPM with
# MaxConnectionsPerChild 1 (the parent forks a child per connection), a
# prefetch thread kept busy (12 certificates, 60-second responses carrying
# extra certificates, OCSPPrefetchRenewWindow 59s, OCSPPrefetchRetryDelay 1s:
# every certificate is fetched again about every second), and clients
# making TLS handshakes with status_request without pause. Fails on any
# hung child (blocked anywhere but accept() for more than --stuck seconds,
# or not back in accept() after the load), any hung parent, any crashed
# child, any handshake not answered within --bound seconds or answered
# without a staple, or a prefetch thread that stopped fetching.
#
#   scripts/stress-fork.sh [--seconds 180] [--clients 4] [--certs 12]
#                          [--mode big+short|short] [--bound 5] [--stuck 5]
#                          [--min-spare 2] [--max-spare 8] [--module PATH]
#
# Everything runs on 127.0.0.1: a private OCSP responder
# (t/bin/ocsp-responder.pl, real `openssl ocsp`) and a private httpd under
# t/work/servers/forkstress. Bounded: the run lasts --seconds plus at most
# about a minute of set-up and tear-down. Prints a summary; exit status 0 on
# PASS, 1 on FAIL, 2 when the run could not be set up.
#
# Needs: a built module (make; or --module PATH / $OCSP_PREFETCH_SO),
# apache2 with mod_ssl and the prefork MPM, perl with Net::SSLeay and
# IO::Socket::SSL, openssl. The test PKI (t/pki/out) is generated when
# missing.
set -euo pipefail
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$TOP"

for a in "$@"; do
    case "$a" in
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    esac
done

die() { echo "stress-fork: $*" >&2; exit 2; }
command -v perl >/dev/null || die "perl not found"
command -v openssl >/dev/null || die "openssl not found"
[ -x "${OCSPT_HTTPD:-/usr/sbin/apache2}" ] || die "apache2 not found (set OCSPT_HTTPD)"
[ -f "${OCSPT_MODDIR:-/usr/lib/apache2/modules}/mod_mpm_prefork.so" ] || die "mod_mpm_prefork.so not found"
perl -MNet::SSLeay -MIO::Socket::SSL -e1 2>/dev/null || die "perl modules Net::SSLeay and IO::Socket::SSL are needed"

# The test PKI (its AIA port does not matter here: the responder URL is
# configured explicitly).
PKI=${OCSPT_PKI:-$TOP/t/pki/out}
if [ ! -f "$PKI/int.pem" ] || [ ! -f "$PKI/leaves/good.pem" ]; then
    echo "stress-fork: generating the test PKI in $PKI"
    port=$(perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(LocalAddr=>"127.0.0.1",LocalPort=>0,Listen=>1)->sockport')
    sh t/pki/mkpki.sh "$PKI" "$port" >/dev/null || die "t/pki/mkpki.sh failed"
fi

# httpd's children run as nobody when we are root: like t/TEST, give the
# directories from / down to t/ search permission for others (only +x:
# nothing becomes listable or readable).
if [ "$(id -u)" = 0 ]; then
    d="$TOP/t"
    while [ "$d" != / ]; do
        if [ "$(( 0$(stat -c %a "$d") & 01 ))" = 0 ]; then
            echo "stress-fork: adding o+x to $d so that httpd's children (nobody) can reach t/"
            chmod o+x "$d"
        fi
        d=$(dirname "$d")
    done
fi

start=$(date +%s)
set +e
perl t/bin/fork-stress.pl "$@"
rc=$?
set -e
echo "stress-fork: finished in $(( $(date +%s) - start )) s, exit status $rc ($( [ $rc = 0 ] && echo PASS || echo FAIL))"
exit $rc
