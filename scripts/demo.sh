#!/usr/bin/env bash
# mod_ocsp_prefetch demo, one command on Debian 12 or 13:
#   scripts/demo.sh
#
# 1. scripts/build.sh: installs missing packages (as root only), builds the
#    module (autoreconf -fi, ./configure, make when needed).
# 2. A local CA in demo/pki (t/pki/mkpki.sh): root, intermediate, delegated
#    OCSP signer, and a leaf good.test whose AIA names the responder below.
# 3. The real `openssl ocsp` responder on 127.0.0.1 (t/bin/ocsp-responder.pl,
#    one `openssl ocsp` run per request, exits by itself after 5 minutes).
# 4. httpd (/usr/sbin/apache2) with its own ServerRoot demo/httpd, a generated
#    minimal config and `OCSPPrefetch on` in one TLS VirtualHost on 127.0.0.1.
# 5. openssl s_client -status: prints the stapled OCSP response; the staple's
#    DER is checked with `openssl ocsp -respin` against the issuer and CA.
# 6. The module's lines of the error log; then httpd and the responder stop
#    (also on failure or Ctrl-C).
#
# Exit status 0 only if a handshake carried a staple that verifies and says
# good. Nothing outside the clone is touched: not /etc/apache2, not the
# apache2 service. Everything listens on 127.0.0.1 only. Running it again
# starts from scratch (demo/ is regenerated; it is ignored by git).
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEMO="$TOP/demo"
PKI="$DEMO/pki"
SRV="$DEMO/httpd"
CONF="$SRV/conf/httpd.conf"
LOG="$SRV/logs/error_log"
PIDFILE="$SRV/logs/httpd.pid"
RESP_PIDFILE="$DEMO/responder.pid"
LEAF=good
SNI="$LEAF.test"

HTTPD_PID=""
RESP_PID=""

say() { printf '\n== %s\n' "$*"; }
fail() { printf '\nDEMO FAILED: %s\n' "$*" >&2; exit 1; }

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# wait_gone PID SECONDS: 0 once the process is gone
wait_gone() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        alive "$1" || return 0
        sleep 0.1
    done
    return 1
}

# Stops what this run started, by pid: at the end of the demo, and on any
# exit before that (failure, Ctrl-C).
stop_all() {
    if alive "$HTTPD_PID"; then
        say "stopping httpd (pid $HTTPD_PID)"
        "$HTTPD" -d "$SRV" -f "$CONF" -k stop >/dev/null 2>&1 || kill -TERM "$HTTPD_PID" 2>/dev/null || true
        if ! wait_gone "$HTTPD_PID" 20; then
            kill -KILL "$HTTPD_PID" 2>/dev/null || true
        fi
    fi
    HTTPD_PID=""
    if alive "$RESP_PID"; then
        say "stopping the OCSP responder (pid $RESP_PID)"
        kill -TERM "$RESP_PID" 2>/dev/null || true
        if ! wait_gone "$RESP_PID" 5; then
            kill -KILL "$RESP_PID" 2>/dev/null || true
        fi
        wait "$RESP_PID" 2>/dev/null || true
    fi
    RESP_PID=""
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_all
    if [ "$rc" != 0 ]; then
        printf '\nDemo exited with status %s (httpd and the responder are stopped; files in %s)\n' "$rc" "$DEMO" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A free TCP port on 127.0.0.1.
free_port() {
    perl -MIO::Socket::INET -e '
        my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0,
                                      Proto => "tcp", Listen => 1, ReuseAddr => 1)
            or die "free_port: $!\n";
        print $s->sockport, "\n";'
}

# wait_listen PORT SECONDS: 0 once something accepts on 127.0.0.1:PORT
wait_listen() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# The pid in FILE if that process is alive and its command line contains
# PATTERN (a leftover of an earlier run of this demo that was killed hard).
leftover_pid() {
    local pid
    [ -f "$1" ] || return 1
    pid=$({ tr -cd '0-9' < "$1"; } 2>/dev/null || true)
    [ -n "$pid" ] && alive "$pid" || return 1
    tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2" || return 1
    echo "$pid"
}

# ---------------------------------------------------------------- build
say "build (scripts/build.sh)"
"$TOP/scripts/build.sh"
SO="$TOP/.libs/mod_ocsp_prefetch.so"
[ -f "$SO" ] || fail "$SO was not built"
APXS=$(command -v apxs || command -v apxs2 || echo /usr/bin/apxs)
MODDIR=$("$APXS" -q LIBEXECDIR)
HTTPD="$("$APXS" -q SBINDIR)/$("$APXS" -q TARGET)"
[ -x "$HTTPD" ] || HTTPD=/usr/sbin/apache2

# ---------------------------------------------------------------- leftovers
if pid=$(leftover_pid "$PIDFILE" "$SRV"); then
    say "stopping httpd left over from an earlier demo run (pid $pid)"
    "$HTTPD" -d "$SRV" -f "$CONF" -k stop >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" 20 || kill -KILL "$pid" 2>/dev/null || true
fi
if pid=$(leftover_pid "$RESP_PIDFILE" "ocsp-responder.pl"); then
    say "stopping the OCSP responder left over from an earlier demo run (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" 5 || kill -KILL "$pid" 2>/dev/null || true
fi
rm -rf "$DEMO"
mkdir -p "$DEMO" "$SRV/conf" "$SRV/logs" "$SRV/htdocs" "$DEMO/responder-tmp"
chmod 0755 "$DEMO" "$SRV" "$SRV/conf" "$SRV/logs" "$SRV/htdocs"

# ---------------------------------------------------------------- CA
RESP_PORT=$(free_port)
say "local CA in $PKI (t/pki/mkpki.sh; OCSP URL in the certificates: http://127.0.0.1:$RESP_PORT/good/)"
sh "$TOP/t/pki/mkpki.sh" "$PKI" "$RESP_PORT"
openssl x509 -in "$PKI/leaves/$LEAF.pem" -noout -subject -issuer -ext authorityInfoAccess \
    | sed 's/^/    /'

# ---------------------------------------------------------------- responder
say "OCSP responder: openssl ocsp behind t/bin/ocsp-responder.pl on 127.0.0.1:$RESP_PORT"
perl "$TOP/t/bin/ocsp-responder.pl" --port "$RESP_PORT" --pki "$PKI" \
    --log "$DEMO/responder.log" --pidfile "$RESP_PIDFILE" --lifetime 300 \
    --tmp "$DEMO/responder-tmp" </dev/null >"$DEMO/responder.out" 2>&1 &
RESP_PID=$!
wait_listen "$RESP_PORT" 10 || { cat "$DEMO/responder.out" >&2; fail "the OCSP responder did not come up"; }
echo "    pid $RESP_PID, requests logged to $DEMO/responder.log"

# ---------------------------------------------------------------- httpd
PORT=$(free_port)
RUN_AS=""
if [ "$(id -u)" = 0 ]; then
    # The parent keeps root (it reads the keys); children switch to nobody.
    RUN_AS="User nobody
Group $(id -gn nobody 2>/dev/null || echo nogroup)"
fi
cat > "$CONF" <<EOC
# Generated by scripts/demo.sh: a minimal httpd with mod_ocsp_prefetch.
ServerRoot "$SRV"
DefaultRuntimeDir "$SRV/logs"
PidFile "$PIDFILE"
ErrorLog "$LOG"
LogLevel info ssl:warn ocsp_prefetch:debug
ServerName localhost
$RUN_AS

LoadModule mpm_event_module $MODDIR/mod_mpm_event.so
LoadModule authz_core_module $MODDIR/mod_authz_core.so
LoadModule socache_shmcb_module $MODDIR/mod_socache_shmcb.so
LoadModule ssl_module $MODDIR/mod_ssl.so
LoadModule ocsp_prefetch_module $SO

StartServers 1
ServerLimit 2
ThreadsPerChild 8
MinSpareThreads 4
MaxSpareThreads 16
MaxRequestWorkers 16
GracefulShutdownTimeout 5
DocumentRoot "$SRV/htdocs"
<Directory />
    Require all granted
</Directory>

# The on-disk store of responses stays inside the demo (the built-in
# default is a system directory such as /var/cache/apache2/ocsp_prefetch).
OCSPPrefetchStore "$SRV/store"
# Responses are fetched and validated by the unprivileged helper process,
# as by default once installed; here the one built next to the module.
OCSPPrefetchPrivsep on "$TOP/ocsp-prefetch-helper"

Listen 127.0.0.1:$PORT
<VirtualHost 127.0.0.1:$PORT>
    ServerName $SNI
    SSLEngine on
    SSLCertificateFile "$PKI/leaves/$LEAF.chain.pem"
    SSLCertificateKeyFile "$PKI/leaves/$LEAF.key"
    # The only line this module needs. No SSLUseStapling, no
    # SSLStaplingCache: mod_ssl asks the module for the staple.
    OCSPPrefetch on
</VirtualHost>
EOC
say "httpd config $CONF (VirtualHost $SNI on 127.0.0.1:$PORT):"
sed -n '/^<VirtualHost/,/^<\/VirtualHost>/p' "$CONF" | sed 's/^/    /'

say "$HTTPD -t"
"$HTTPD" -d "$SRV" -f "$CONF" -t
say "starting httpd"
"$HTTPD" -d "$SRV" -f "$CONF" -k start
for ((i = 0; i < 100; i++)); do
    HTTPD_PID=$({ tr -cd '0-9' < "$PIDFILE"; } 2>/dev/null || true)
    alive "$HTTPD_PID" && break
    HTTPD_PID=""
    sleep 0.1
done
alive "$HTTPD_PID" || { tail -n 20 "$LOG" >&2 || true; fail "httpd did not start"; }
wait_listen "$PORT" 10 || { tail -n 20 "$LOG" >&2; fail "httpd does not listen on 127.0.0.1:$PORT"; }
echo "    httpd pid $HTTPD_PID"

# ---------------------------------------------------------------- handshake
# The staple's DER, as a TLS client that asks for status_request sees it
# (t/lib/OCSPTest/Client.pm, the test suite's client). The module fetched
# the response at startup, so this normally succeeds on the first try.
STAPLE="$DEMO/staple.der"
got=""
for ((i = 0; i < 40; i++)); do
    if perl -I"$TOP/t/lib" -MOCSPTest::Client=get_staple -e '
            my ($port, $sni, $out) = @ARGV;
            my $g = get_staple(port => $port, sni => $sni, timeout => 5);
            exit 2 unless $g->{ok};
            exit 1 unless defined $g->{der};
            open my $fh, ">", $out or die "$out: $!\n";
            binmode $fh; print $fh $g->{der}; close $fh or die "$out: $!\n";' \
            "$PORT" "$SNI" "$STAPLE"; then
        got=1
        break
    fi
    sleep 0.5
done

say "openssl s_client -connect 127.0.0.1:$PORT -servername $SNI -status"
openssl s_client -connect "127.0.0.1:$PORT" -servername "$SNI" -status \
    -CAfile "$PKI/root.pem" -verify_hostname "$SNI" </dev/null >"$DEMO/s_client.out" 2>&1 || true
# The response as s_client prints it; the delegated signer's certificate
# embedded in it is summarised in one line.
awk '/^OCSP response:/ { on = 1 }
     !on { next }
     /^Certificate:$/ { incert = 1; next }
     incert && /Subject:/ { sub(/^ */, ""); print "    (embedded responder certificate, " $0 ")"; next }
     incert && /^-----END CERTIFICATE-----/ { incert = 0; next }
     incert { next }
     { print "    " $0 }
     /^=+$/ && ++bars == 2 { exit }
     /no response sent/ { exit }' "$DEMO/s_client.out"
grep -E '^New, |^Verify return code' "$DEMO/s_client.out" | sed 's/^/    /' || true
grep -q '^ *OCSP Response Status: successful' "$DEMO/s_client.out" \
    || echo "    (s_client saw no successful stapled response)"

# ---------------------------------------------------------------- module log
say "the module's lines in $LOG"
grep -F '[ocsp_prefetch:' "$LOG" | sed -E 's/ \[pid [0-9]+(:tid [0-9]+)?\]//; s/^/    /' || true
say "responder log $DEMO/responder.log (one line per request)"
sed 's/^/    /' "$DEMO/responder.log" 2>/dev/null || true

# ---------------------------------------------------------------- verify
[ -n "$got" ] || fail "no OCSP response was stapled to the handshake"
say "openssl ocsp -respin staple.der -issuer int.pem -cert $LEAF.pem -CAfile ca-chain.pem -no_nonce"
VERIFY="$DEMO/verify.out"
openssl ocsp -respin "$STAPLE" -issuer "$PKI/int.pem" -cert "$PKI/leaves/$LEAF.pem" \
    -CAfile "$PKI/ca-chain.pem" -no_nonce >"$VERIFY" 2>&1 || true
sed 's/^/    /' "$VERIFY"
if ! grep -q '^Response verify OK' "$VERIFY"; then
    fail "the stapled response does not verify against the issuer"
fi
if ! grep -qF "$PKI/leaves/$LEAF.pem: good" "$VERIFY"; then
    fail "the stapled response does not say good for $SNI"
fi
ISSUER=$(openssl x509 -in "$PKI/int.pem" -noout -subject | sed 's/^subject= *//')
BYTES=$(wc -c < "$STAPLE" | tr -d ' ')
stop_all
printf '\nFiles (config, logs, CA, staple) are in %s\n' "$DEMO"
printf '\nStapled OCSP response: good, verified against the issuer (%s; %s bytes)\n' "$ISSUER" "$BYTES"
