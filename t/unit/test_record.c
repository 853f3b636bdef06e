/* opf_record: the cache value codec. */
#include "tap.h"
#include "opf_record.h"
#include "opf_validate.h"

#include <stdlib.h>

int main(void)
{
    unsigned char der[100], buf[OPF_RECORD_HEADER + 100], *big;
    opf_record_t in, out;
    apr_size_t n, i;
    static const unsigned char want_hdr[OPF_RECORD_HEADER] = {
        'O', 'P', 'F', '1', 1, 0, 0, 0,
        0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77 };

    for (i = 0; i < sizeof(der); i++)
        der[i] = (unsigned char)i;
    in.status = OPF_CERT_REVOKED;
    in.this_update = (apr_time_t)0x0001020304050607LL;
    in.next_update = (apr_time_t)0x0011223344556677LL;
    in.der = der;
    in.der_len = sizeof(der);

    n = opf_record_encode(buf, &in);
    is_int(n, OPF_RECORD_HEADER + sizeof(der), "encoded length");
    ok(memcmp(buf, want_hdr, OPF_RECORD_HEADER) == 0,
       "header: magic, status, zero pad, big-endian times");
    ok(memcmp(buf + OPF_RECORD_HEADER, der, sizeof(der)) == 0, "DER follows");

    memset(&out, 0, sizeof(out));
    ok(opf_record_decode(buf, n, &out) == APR_SUCCESS, "decodes");
    is_int(out.status, OPF_CERT_REVOKED, "status round-trips");
    is_int(out.this_update, in.this_update, "this_update round-trips");
    is_int(out.next_update, in.next_update, "next_update round-trips");
    is_int(out.der_len, sizeof(der), "der_len");
    ok(out.der == buf + OPF_RECORD_HEADER, "der points into the buffer");

    in.status = OPF_CERT_GOOD;
    in.this_update = apr_time_from_sec(1700000000);
    in.next_update = apr_time_from_sec(1700604800);
    n = opf_record_encode(buf, &in);
    ok(opf_record_decode(buf, n, &out) == APR_SUCCESS
       && out.status == OPF_CERT_GOOD
       && out.next_update == apr_time_from_sec(1700604800),
       "realistic times round-trip");

    ok(opf_record_decode(buf, OPF_RECORD_HEADER, &out) != APR_SUCCESS,
       "header only (der_len 0) rejected");
    ok(opf_record_decode(buf, 10, &out) != APR_SUCCESS, "short buffer");
    ok(opf_record_decode(buf, 0, &out) != APR_SUCCESS, "empty buffer");
    ok(opf_record_decode(NULL, 0, &out) != APR_SUCCESS, "NULL buffer");

    buf[0] = 'X';
    ok(opf_record_decode(buf, n, &out) != APR_SUCCESS, "bad magic");
    buf[0] = 'O';
    buf[3] = '2';
    ok(opf_record_decode(buf, n, &out) != APR_SUCCESS, "other version");
    buf[3] = '1';
    for (i = 5; i < 8; i++) {
        buf[i] = 1;
        ok(opf_record_decode(buf, n, &out) != APR_SUCCESS,
           i == 5 ? "nonzero pad byte 5" : i == 6 ? "nonzero pad byte 6"
                                                  : "nonzero pad byte 7");
        buf[i] = 0;
    }
    ok(opf_record_decode(buf, n, &out) == APR_SUCCESS, "restored decodes");

    big = calloc(1, OPF_RECORD_HEADER + OPF_RECORD_MAX_DER + 1);
    in.der = big + OPF_RECORD_HEADER + OPF_RECORD_MAX_DER; /* content unused */
    in.der_len = 0;
    opf_record_encode(big, &in);
    ok(opf_record_decode(big, OPF_RECORD_HEADER + OPF_RECORD_MAX_DER, &out)
       == APR_SUCCESS, "DER of exactly OPF_RECORD_MAX_DER accepted");
    ok(opf_record_decode(big, OPF_RECORD_HEADER + OPF_RECORD_MAX_DER + 1, &out)
       != APR_SUCCESS, "DER over OPF_RECORD_MAX_DER rejected");
    free(big);

    return done_testing();
}
