#!/bin/sh
# Regenerates the fixed fuzzing PKI (fuzz/pki/) and the seed corpora
# (fuzz/corpus/<target>/) from real OpenSSL output:
#   - OCSP responses made by `openssl ocsp` in one-shot responder mode
#     (-reqin/-respout): good, revoked, unknown, delegated signer, key-id
#     responder id, no embedded certs, SHA-256 CertID, two SingleResponses,
#     nonce, a large one with embedded certificates, tryLater;
#   - HTTP replies carrying them (with and without Content-Length, 500,
#     302, header oddities);
#   - store files (OPFSTOR1) and cache records (OPF1) wrapping them;
#   - status records with hostile text for the renderers.
# The leaf and issuer the targets validate against are fuzz/pki/leaf.pem
# and fuzz/pki/issuer.pem; fuzz/pki/now is the validation time (a minute
# after the responses were made; they stay valid for 100 years).
# Usage: fuzz/mkseeds.sh   (from anywhere; rewrites fuzz/pki and fuzz/corpus)
set -eu
FZ=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T"

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
cat > ext.cnf <<'EOT'
[req]
distinguished_name=dn
[dn]
[ca]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
[signer]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=OCSPSigning
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
[leaf]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:leaf.fuzz.test
authorityInfoAccess=OCSP;URI:http://127.0.0.1:8/ocsp
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
[other]
basicConstraints=critical,CA:FALSE
subjectAltName=@san
[san]
EOT
i=1; while [ $i -le 40 ]; do
    printf 'DNS.%d=host-%04d.many-names.fuzz.test\n' $i $i >> ext.cnf; i=$((i + 1)); done

key issuer.key
openssl req -x509 -new -key issuer.key -subj "/O=OPF Fuzz/CN=Fuzz Issuing CA" \
    -days 36500 -sha256 -extensions ca -config ext.cnf -set_serial 0x10 \
    -out issuer.pem 2>/dev/null
issue() { # name cn ext serial
    key "$1.key"
    openssl req -new -key "$1.key" -subj "/O=OPF Fuzz/CN=$2" -config ext.cnf \
        -out "$1.csr" 2>/dev/null
    openssl x509 -req -in "$1.csr" -CA issuer.pem -CAkey issuer.key \
        -set_serial "$4" -days 36500 -sha256 -extfile ext.cnf -extensions "$3" \
        -out "$1.pem" 2>/dev/null
}
issue leaf leaf.fuzz.test leaf 0x1001
issue leaf2 leaf2.fuzz.test leaf 0x1002
issue revoked revoked.fuzz.test leaf 0x1003
issue unknown unknown.fuzz.test leaf 0x1004
issue signer "Fuzz OCSP Signer" signer 0x2001
issue other "Fuzz many names" other 0x3001

exp=$(date -u -d '+36000 days' +%Y%m%d%H%M%SZ)
rev=$(date -u -d '-1 day' +%y%m%d%H%M%SZ)
printf 'V\t%s\t\t1001\tunknown\t/O=OPF Fuzz/CN=leaf.fuzz.test\n' "$exp" > index.txt
printf 'V\t%s\t\t1002\tunknown\t/O=OPF Fuzz/CN=leaf2.fuzz.test\n' "$exp" >> index.txt
printf 'R\t%s\t%s,keyCompromise\t1003\tunknown\t/O=OPF Fuzz/CN=revoked.fuzz.test\n' "$exp" "$rev" >> index.txt

req() { # out certs... (extra openssl ocsp options first via REQOPT)
    out=$1; shift
    openssl ocsp -issuer issuer.pem ${REQOPT:-} "$@" -reqout "$out" >/dev/null 2>&1
}
resp() { # reqin respout [options]   (INDEX: another database)
    rin=$1; rout=$2; shift 2
    openssl ocsp -index "${INDEX:-index.txt}" -CA issuer.pem -reqin "$rin" -respout "$rout" \
        -ndays 36500 "$@" >/dev/null 2>&1
}
REQOPT=-no_nonce req req_leaf.der -cert leaf.pem
REQOPT=-no_nonce req req_revoked.der -cert revoked.pem
REQOPT=-no_nonce req req_unknown.der -cert unknown.pem
REQOPT="-no_nonce -sha256" req req_sha256.der -cert leaf.pem
REQOPT=-no_nonce req req_two.der -cert leaf2.pem -cert leaf.pem
req req_nonce.der -cert leaf.pem

mkdir -p R
resp req_leaf.der R/good.der -rsigner issuer.pem -rkey issuer.key
# the fixed leaf revoked, and absent (unknown), in other databases
sed 's/^V\(\t[^\t]*\t\)\t1001/R\1'"$rev"',keyCompromise\t1001/' index.txt > index-rev.txt
grep -v '	1001	' index.txt > index-unk.txt
INDEX=index-rev.txt resp req_leaf.der R/revoked.der -rsigner issuer.pem -rkey issuer.key
INDEX=index-unk.txt resp req_leaf.der R/unknown.der -rsigner issuer.pem -rkey issuer.key
resp req_revoked.der R/other_revoked.der -rsigner signer.pem -rkey signer.key
resp req_unknown.der R/other_unknown.der -rsigner issuer.pem -rkey issuer.key
resp req_leaf.der R/delegated.der -rsigner signer.pem -rkey signer.key
resp req_leaf.der R/keyid_nocerts.der -rsigner issuer.pem -rkey issuer.key -resp_key_id -resp_no_certs
resp req_sha256.der R/sha256.der -rsigner issuer.pem -rkey issuer.key
resp req_two.der R/two_singles.der -rsigner signer.pem -rkey signer.key
resp req_nonce.der R/nonce.der -rsigner issuer.pem -rkey issuer.key
cat issuer.pem leaf2.pem revoked.pem unknown.pem other.pem > big-other.pem
resp req_leaf.der R/large.der -rsigner signer.pem -rkey signer.key -rother big-other.pem
printf '\060\003\012\001\003' > R/trylater.der
for f in R/*.der; do [ -s "$f" ] || { echo "mkseeds: $f is empty" >&2; exit 1; }; done

# the fixed PKI the targets load
rm -rf "$FZ/pki"; mkdir -p "$FZ/pki"
cp issuer.pem leaf.pem "$FZ/pki/"
echo $(( $(date +%s) + 60 )) > "$FZ/pki/now"

C="$FZ/corpus"
rm -rf "$C"; mkdir -p "$C/fuzz_validate" "$C/fuzz_http" "$C/fuzz_store" \
    "$C/fuzz_record" "$C/fuzz_render"
cp R/*.der "$C/fuzz_validate/"

# fuzz_http: byte 0 picks how the reply is cut into writes (see fuzz_http.c)
http() { # name chunkbyte header-printf-format body-file
    { printf "$2"; printf "$3"; if [ -n "$4" ]; then cat "$4"; fi; } > "$C/fuzz_http/$1"
}
len=$(wc -c < R/good.der)
http ok_cl '\000' "HTTP/1.0 200 OK\r\nContent-Type: application/ocsp-response\r\nContent-Length: $len\r\n\r\n" R/good.der
http ok_nocl '\000' "HTTP/1.1 200 OK\r\nContent-Type: application/ocsp-response\r\nConnection: close\r\n\r\n" R/good.der
http ok_bytewise '\001' "HTTP/1.0 200 OK\r\nContent-Length: $len\r\n\r\n" R/good.der
http ok_chunks7 '\007' "HTTP/1.0 200 OK\nContent-Length: $len\n\n" R/good.der
http cl_short '\000' "HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\n" R/good.der
http cl_long '\000' "HTTP/1.0 200 OK\r\nContent-Length: 100000\r\n\r\n" R/good.der
http cl_bad '\000' "HTTP/1.0 200 OK\r\nContent-Length: -1\r\nContent-Length: 5\r\n\r\nabcde" ""
http s500 '\000' "HTTP/1.0 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops" ""
http s302 '\000' "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/x\r\n\r\n" ""
http s404_ctl '\003' "HTTP/1.0 404 Not \001\377 Found\r\n\r\n" ""
http chunked '\000' "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" ""
http keepalive '\000' "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok" ""
http folded '\000' "HTTP/1.0 200 OK\r\nX-A: a\r\n  continued\r\n:novalue\r\nnocolon\r\n\r\nbody" ""
http http09 '\000' "garbage\r\n\r\n" ""

# fuzz_store: OPFSTOR1 | be32 length | 4 zero bytes | DER
store() { # name der
    n=$(wc -c < "$2")
    { printf 'OPFSTOR1'; printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $((n >> 24 & 255)) $((n >> 16 & 255)) $((n >> 8 & 255)) $((n & 255)))"
      printf '\000\000\000\000'; cat "$2"; } > "$C/fuzz_store/$1"
}
store good R/good.der; store delegated R/delegated.der; store large R/large.der
store revoked R/revoked.der; store trylater R/trylater.der
printf 'OPFSTOR1\000\000\000\001\000\000\000\000' > "$C/fuzz_store/empty_der"

# fuzz_record: OPF1 | status | 3 zero | be64 thisUpdate | be64 nextUpdate (usec) | DER
record() { # name status der
    { printf 'OPF1'; printf "\\00$2\\000\\000\\000"
      printf '\000\006\000\000\000\000\000\000\000\007\000\000\000\000\000\000'; cat "$3"; } > "$C/fuzz_record/$1"
}
record good 0 R/good.der; record revoked 1 R/revoked.der; record delegated 0 R/delegated.der
printf 'OPF1\000\001\000\000' > "$C/fuzz_record/short"

# fuzz_render: see fuzz_render.c for the layout (64 bytes of numbers, then
# NUL-separated text fields: key, subject, serial, url, vhosts, last_error...)
python3 - "$C/fuzz_render" <<'PY'
import os, sys, struct
d = sys.argv[1]
def seed(name, nums, fields):
    head = bytes(nums) + b'\0' * (64 - len(nums))
    open(os.path.join(d, name), 'wb').write(head + b'\0'.join(fields))
seed('plain', [2, 1, 1, 3, 0x30, 0x40], [b'ab' * 32, b'CN=www.example.com', b'1001',
     b'http://ocsp.example.com/', b'www.example.com, example.com', b''])
seed('hostile', [1, 0, 2, 255, 0xff, 0x7f], [b'"<>&\\', b'<script>alert(1)</script>&co',
     b'\x00\x01', b'javascript:alert("x")', b'a\nb\r\nc\td', b'bad utf8 \xc3\x28 \xed\xa0\x80 \xf4\x90\x80\x80 \xe2\x82',
     b'second record', b'}{"]', b'\x7f\x1b[31m', b'http://x/?a=1&b=<2>', b'# HELP x\nfake_metric 1', b'\\"\n'])
seed('long', [3, 3, 2, 1], [b'k' * 300, b'\xe2\x82\xac' * 100, b's' * 90, b'u' * 256, b'v' * 255, b'<' * 400])
PY
echo "fuzz/pki and fuzz/corpus regenerated:"
du -sh "$C"/* | sed 's/^/  /'
