/* A message of the privilege separation protocol as either side reads it
 * (the parent reads the helper's RESULTs, which a compromised helper
 * controls) -> opf_proto_decode(); what decodes re-encodes to the same
 * bytes. */
#include <stdlib.h>
#include <string.h>

#include "opf_helper_proto.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    opf_proto_msg_t m;
    unsigned char *copy, *again;
    long len;

    if (size > OPF_PROTO_MAX_MSG)
        return 0;
    /* an exact-size heap copy, so ASan sees any read past the message */
    copy = malloc(size ? size : 1);
    if (size)
        memcpy(copy, data, size);
    if (opf_proto_decode(copy, size, &m) == 0) {
        again = malloc(OPF_PROTO_MAX_MSG);
        len = opf_proto_encode(&m, again, OPF_PROTO_MAX_MSG);
        if (len != (long)size || memcmp(again, copy, size) != 0)
            abort();
        free(again);
    }
    free(copy);
    return 0;
}
