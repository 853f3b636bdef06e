/* A cache record as a child reads it back from the socache (which, for
 * memcache/redis, others may write) -> opf_record_decode(). */
#include <stdlib.h>
#include <string.h>

#include "opf_record.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    opf_record_t rec;
    unsigned char *copy, *again;

    /* an exact-size heap copy, so ASan sees any read past the record */
    copy = malloc(size ? size : 1);
    if (size)
        memcpy(copy, data, size);
    if (opf_record_decode(size ? copy : NULL, size, &rec) == APR_SUCCESS) {
        if (rec.der != copy + OPF_RECORD_HEADER
            || rec.der_len != size - OPF_RECORD_HEADER || rec.der_len == 0
            || rec.der_len > OPF_RECORD_MAX_DER)
            abort();
        /* decode(encode(x)) round trip: the codec loses nothing */
        again = malloc(OPF_RECORD_HEADER + rec.der_len);
        if (opf_record_encode(again, &rec) != size
            || memcmp(again, copy, 4) != 0
            || memcmp(again + 8, copy + 8, size - 8) != 0
            || again[4] != copy[4])
            abort();
        free(again);
    }
    free(copy);
    return 0;
}
