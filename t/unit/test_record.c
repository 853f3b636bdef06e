/* opf_record: the cache value codec, bound to its key. */
#include "tap.h"
#include "opf_record.h"
#include "opf_validate.h"

#include <stdlib.h>

int main(void)
{
    unsigned char der[100], key[20], other[20];
    static const unsigned char zeros[OPF_RECORD_MAX_KEY];
    unsigned char buf[OPF_RECORD_HEADER + sizeof(key) + sizeof(der)], *big;
    opf_record_t in, out;
    apr_size_t n, i;
    static const unsigned char want_hdr[OPF_RECORD_HEADER] =
        {'O',  'P',  'F',  '2',  1,    0,    0,    20,
         0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
         0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77};

    for (i = 0; i < sizeof(der); i++)
        der[i] = (unsigned char)i;
    for (i = 0; i < sizeof(key); i++) {
        key[i] = (unsigned char)(0xa0 + i);
        other[i] = key[i];
    }
    other[19] ^= 1;
    in.status = OPF_CERT_REVOKED;
    in.this_update = (apr_time_t)0x0001020304050607LL;
    in.next_update = (apr_time_t)0x0011223344556677LL;
    in.key = key;
    in.key_len = sizeof(key);
    in.der = der;
    in.der_len = sizeof(der);

    is_int(opf_record_size(&in), sizeof(buf), "size: header + key + DER");
    n = opf_record_encode(buf, &in);
    is_int(n, sizeof(buf), "encoded length");
    ok(memcmp(buf, want_hdr, OPF_RECORD_HEADER) == 0,
       "header: magic, status, zero pad, key length, big-endian times");
    ok(memcmp(buf + OPF_RECORD_HEADER, key, sizeof(key)) == 0,
       "the key follows the header");
    ok(memcmp(buf + OPF_RECORD_HEADER + sizeof(key), der, sizeof(der)) == 0,
       "DER follows the key");

    memset(&out, 0, sizeof(out));
    ok(opf_record_decode(buf, n, key, sizeof(key), &out) == APR_SUCCESS,
       "decodes under its own key");
    is_int(out.status, OPF_CERT_REVOKED, "status round-trips");
    is_int(out.this_update, in.this_update, "this_update round-trips");
    is_int(out.next_update, in.next_update, "next_update round-trips");
    is_int(out.der_len, sizeof(der), "der_len");
    ok(out.der == buf + OPF_RECORD_HEADER + sizeof(key),
       "der points into the buffer");
    ok(out.key_len == sizeof(key) && out.key == buf + OPF_RECORD_HEADER,
       "key points into the buffer");
    ok(opf_record_decode(buf, n, NULL, 0, &out) == APR_SUCCESS,
       "decodes without a key to check");

    /* bound to its key: another certificate's record is refused */
    ok(opf_record_decode(buf, n, other, sizeof(other), &out) != APR_SUCCESS,
       "refused under another key (last byte differs)");
    ok(opf_record_decode(buf, n, key, sizeof(key) - 1, &out) != APR_SUCCESS,
       "refused under a shorter key");
    ok(opf_record_decode(buf, n, key, 0, &out) != APR_SUCCESS,
       "refused under an empty key");

    in.status = OPF_CERT_GOOD;
    in.this_update = apr_time_from_sec(1700000000);
    in.next_update = apr_time_from_sec(1700604800);
    n = opf_record_encode(buf, &in);
    ok(opf_record_decode(buf, n, key, sizeof(key), &out) == APR_SUCCESS
           && out.status == OPF_CERT_GOOD
           && out.next_update == apr_time_from_sec(1700604800),
       "realistic times round-trip");

    ok(opf_record_decode(buf, OPF_RECORD_HEADER + sizeof(key), key,
                         sizeof(key), &out)
           != APR_SUCCESS,
       "header and key only (no DER) rejected");
    ok(opf_record_decode(buf, OPF_RECORD_HEADER + 5, NULL, 0, &out)
           != APR_SUCCESS,
       "cut inside the key");
    ok(opf_record_decode(buf, 10, NULL, 0, &out) != APR_SUCCESS,
       "short buffer");
    ok(opf_record_decode(buf, 0, NULL, 0, &out) != APR_SUCCESS,
       "empty buffer");
    ok(opf_record_decode(NULL, 0, NULL, 0, &out) != APR_SUCCESS,
       "NULL buffer");

    buf[0] = 'X';
    ok(opf_record_decode(buf, n, key, sizeof(key), &out) != APR_SUCCESS,
       "bad magic");
    buf[0] = 'O';
    buf[3] = '1';
    ok(opf_record_decode(buf, n, key, sizeof(key), &out) != APR_SUCCESS,
       "the old layout (OPF1, not bound to a key) is refused");
    buf[3] = '2';
    buf[5] = 1;
    ok(opf_record_decode(buf, n, key, sizeof(key), &out) != APR_SUCCESS,
       "nonzero pad byte");
    buf[5] = 0;
    buf[6] = 2; /* key length 532: over the maximum */
    ok(opf_record_decode(buf, n, NULL, 0, &out) != APR_SUCCESS,
       "key length over OPF_RECORD_MAX_KEY");
    buf[6] = 0;
    ok(opf_record_decode(buf, n, key, sizeof(key), &out) == APR_SUCCESS,
       "restored decodes");

    big = calloc(1, OPF_RECORD_MAX + 1);
    in.key_len = OPF_RECORD_MAX_KEY;
    in.key = zeros;
    in.der = big + OPF_RECORD_MAX; /* content unused */
    in.der_len = 0;
    opf_record_encode(big, &in);
    ok(opf_record_decode(big, OPF_RECORD_MAX, NULL, 0, &out) == APR_SUCCESS
           && out.der_len == OPF_RECORD_MAX_DER,
       "largest key and DER of exactly OPF_RECORD_MAX_DER accepted");
    ok(opf_record_decode(big, OPF_RECORD_MAX + 1, NULL, 0, &out)
           != APR_SUCCESS,
       "DER over OPF_RECORD_MAX_DER rejected");
    free(big);

    /* newer wins; at the same thisUpdate, revoked wins */
    ok(opf_record_keeps(200, OPF_CERT_GOOD, 100, OPF_CERT_GOOD),
       "a newer good is kept against an older good");
    ok(!opf_record_keeps(100, OPF_CERT_GOOD, 200, OPF_CERT_GOOD),
       "an older good is replaced by a newer one");
    ok(opf_record_keeps(200, OPF_CERT_REVOKED, 100, OPF_CERT_GOOD),
       "a newer revoked is never replaced by an older good");
    ok(!opf_record_keeps(100, OPF_CERT_REVOKED, 200, OPF_CERT_GOOD),
       "an older revoked is replaced by a newer answer");
    ok(opf_record_keeps(100, OPF_CERT_REVOKED, 100, OPF_CERT_GOOD),
       "as new: revoked is kept against good");
    ok(!opf_record_keeps(100, OPF_CERT_GOOD, 100, OPF_CERT_REVOKED),
       "as new: good is replaced by revoked");
    ok(!opf_record_keeps(100, OPF_CERT_GOOD, 100, OPF_CERT_GOOD),
       "the same response is written again (refreshes its expiry)");

    return done_testing();
}
