/* HTTP/1.1 chunked transfer coding (RFC 9112, 7.1), decoded from a body
 * buffer that holds what was read so far. A responder should not send it
 * to our HTTP/1.0 request, but some servers and proxies do; the coded
 * body is bounded like any other (the caller caps what it reads), and the
 * decoded body by max_out. Chunk extensions and trailer fields are
 * skipped, never interpreted. */
#ifndef OPF_CHUNKED_H
#define OPF_CHUNKED_H

#include <stddef.h>

/* Decodes in[0..len) into out (out may be in: the decoded body is never
 * longer than the coded one, and is written front to back). Returns 1
 * when the coded body is complete (the last chunk and the end of the
 * trailer section were seen; *out_len bytes decoded), 0 when more input
 * is needed, -1 when it is malformed or decodes to more than max_out
 * bytes (*err says which; static). With out NULL it only checks. */
int opf_chunked_decode(const unsigned char *in, size_t len,
                       unsigned char *out, size_t max_out, size_t *out_len,
                       const char **err);

#endif
