/* A record as the parent reads it back from a fleet cache (redis or
 * memcache, which others may write) or a child from the local cache ->
 * opf_record_decode(). */
#include <stdlib.h>
#include <string.h>

#include "opf_record.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    opf_record_t rec, bound;
    unsigned char *copy, *again;

    /* an exact-size heap copy, so ASan sees any read past the record */
    copy = malloc(size ? size : 1);
    if (size)
        memcpy(copy, data, size);
    if (opf_record_decode(size ? copy : NULL, size, NULL, 0, &rec)
        == APR_SUCCESS) {
        if (rec.key != copy + OPF_RECORD_HEADER
            || rec.key_len > OPF_RECORD_MAX_KEY
            || rec.der != copy + OPF_RECORD_HEADER + rec.key_len
            || rec.der_len != size - OPF_RECORD_HEADER - rec.key_len
            || rec.der_len == 0 || rec.der_len > OPF_RECORD_MAX_DER)
            abort();
        /* bound to its own key: decodes under it, and not under a key one
         * byte shorter */
        if (opf_record_decode(copy, size, rec.key, rec.key_len, &bound)
                != APR_SUCCESS
            || (rec.key_len
                && opf_record_decode(copy, size, rec.key, rec.key_len - 1,
                                     &bound)
                       == APR_SUCCESS))
            abort();
        /* decode(encode(x)) round trip: the codec loses nothing */
        again = malloc(opf_record_size(&rec));
        if (opf_record_encode(again, &rec) != size
            || memcmp(again, copy, 5) != 0
            || memcmp(again + 6, copy + 6, size - 6) != 0)
            abort();
        free(again);
    }
    free(copy);
    return 0;
}
