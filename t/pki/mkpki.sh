#!/bin/sh
# Generate the test PKI for the mod_ocsp_prefetch integration tests.
#   usage: t/pki/mkpki.sh OUTDIR RESPONDER_PORT
# EC P-256 keys.  All certificates are backdated by 7 days (faketime) so
# responses made with `faketime -f -2d` still fall inside their validity.
# Layout of OUTDIR:
#   root.pem root.key int.pem int.key ca-chain.pem (root+int)
#   signer.pem signer.key   delegated OCSP signer (EKU OCSPSigning, by int)
#   rogue.pem rogue.key     self-signed rogue signer
#   leaves/NAME.pem NAME.key NAME.chain.pem (leaf+int) NAME.req.der
#   index.txt               responder database (revoked.test R, unknown.test absent)
#   bigcert.pem             a ~17 KB certificate (long subjectAltName list) that
#                           the responder's 'huge' mode embeds (responses > 16 KiB)
#   port                    responder port baked into the AIA URLs
set -eu
OUT=${1:?outdir}
PORT=${2:?port}
FT="faketime -f -7d"
command -v faketime >/dev/null 2>&1 || FT=""

rm -rf "$OUT.tmp"
mkdir -p "$OUT.tmp/leaves"
cd "$OUT.tmp"

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

LEAF_CN=none; export LEAF_CN
cat > ext.cnf <<EOT
[req]
distinguished_name=dn
[dn]
[root]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
[int]
basicConstraints=critical,CA:TRUE,pathlen:0
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
[signer]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=OCSPSigning
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
[rogue]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=OCSPSigning
[leaf_aia]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:\${ENV::LEAF_CN}
authorityInfoAccess=OCSP;URI:http://127.0.0.1:$PORT/good/
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
[leaf_twourl]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:\${ENV::LEAF_CN}
# first URL: port 1 on loopback, nothing listens there (refused)
authorityInfoAccess=OCSP;URI:http://127.0.0.1:1/good/,OCSP;URI:http://127.0.0.1:$PORT/good/
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
[leaf_ms]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:\${ENV::LEAF_CN}
authorityInfoAccess=OCSP;URI:http://127.0.0.1:$PORT/good/
tlsfeature=status_request
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
[bigcert]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
subjectAltName=@bigsan
[leaf_noaia]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:\${ENV::LEAF_CN}
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EOT
# 400 names of ~42 bytes: a certificate of about 17 KB (DER)
{
    echo '[bigsan]'
    i=1
    while [ $i -le 400 ]; do
        printf 'DNS.%d=host-%04d.big-san.ocsp-prefetch.example\n' $i $i
        i=$((i + 1))
    done
} >> ext.cnf

# root
key root.key
$FT openssl req -x509 -new -key root.key -subj "/O=OCSP Prefetch Test/CN=Test Root CA" \
    -days 3650 -sha256 -extensions root -config ext.cnf -set_serial 0x0100 -out root.pem

issue() { # name subject issuer_prefix ext serial
    key "$1.key"
    openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
    $FT openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -set_serial "$5" \
        -days 3000 -sha256 -extfile ext.cnf -extensions "$4" -out "$1.pem" 2>/dev/null
    rm -f "$1.csr"
}

issue int "/O=OCSP Prefetch Test/CN=Test Intermediate CA" root int 0x0200
issue signer "/O=OCSP Prefetch Test/CN=Test OCSP Signer" int signer 0x0300
key rogue.key
$FT openssl req -x509 -new -key rogue.key -subj "/O=Rogue/CN=Rogue OCSP Signer" \
    -days 3000 -sha256 -extensions rogue -config ext.cnf -out rogue.pem
cat root.pem int.pem > ca-chain.pem
issue bigcert "/O=OCSP Prefetch Test/CN=Big SAN list" int bigcert 0x0400

LEAVES="good off stapling nourl wrongkey othercert expired future nonext unknown
        trylater garbage truncated http500 short down revoked decoy hang drop delay
        graceful startup post get errs dflt dbmsmall dbmbig shared mda mdb
        longpost getlimit timeout mutex
        persist nostore store1 store2 bigstore failpol expiry backoff backoffg
        twourl muststaple msplain clamp
        xss"
: > index.txt
serial=4096   # 0x1000
# openssl ocsp compares serials as BN_bn2hex strings (upper case, even length)
for n in $LEAVES; do
    serial=$((serial + 1))
    hex=$(printf '%04X' $serial)
    ext=leaf_aia
    [ "$n" = nourl ] && ext=leaf_noaia
    [ "$n" = twourl ] && ext=leaf_twourl
    [ "$n" = muststaple ] && ext=leaf_ms
    LEAF_CN="$n.test"; export LEAF_CN
    subj="/O=OCSP Prefetch Test/CN=$n.test"
    # xss: a subject with markup (the status page must escape it)
    [ "$n" = xss ] && subj='/O=OCSP Prefetch Test/CN=<script>alert(1)<\/script>&co'
    issue "leaves/$n" "$subj" int $ext 0x$hex
    cat "leaves/$n.pem" int.pem > "leaves/$n.chain.pem"
    openssl ocsp -issuer int.pem -cert "leaves/$n.pem" -no_nonce -reqout "leaves/$n.req.der" >/dev/null 2>&1
    exp=$(date -u -d '+3000 days' +%y%m%d%H%M%SZ)
    case "$n" in
        unknown) ;;                                   # absent: status unknown
        revoked) printf 'R\t%s\t%s\t%s\tunknown\t/O=OCSP Prefetch Test/CN=%s\n' \
                     "$exp" "$(date -u -d '-1 day' +%y%m%d%H%M%SZ)" "$hex" "$n.test" >> index.txt ;;
        *)       printf 'V\t%s\t\t%s\tunknown\t/O=OCSP Prefetch Test/CN=%s\n' \
                     "$exp" "$hex" "$n.test" >> index.txt ;;
    esac
done
echo 'unique_subject = no' > index.txt.attr
echo "$PORT" > port
rm -f ext.cnf
chmod -R a+rX .
cd ..
rm -rf "$OUT"
mv "$OUT.tmp" "$OUT"
