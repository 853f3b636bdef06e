/* An indexed binary min-heap of pointers, ordered by a time key.
 *
 * The scheduler keeps thousands of certificates: looking for the next one
 * due must not scan them all at every wake-up. Each item records its own
 * position (an int at pos_offset inside the item, -1 when not in the
 * heap), so an item whose key changed can be moved, or removed, in
 * O(log n) without a search. */
#ifndef OPF_HEAP_H
#define OPF_HEAP_H

#include <stddef.h>
#include <apr_pools.h>
#include <apr_time.h>

typedef apr_time_t (*opf_heap_key_fn)(const void *item);

typedef struct opf_heap {
    void **items;
    int count;
    int capacity;
    opf_heap_key_fn key;
    size_t pos_offset; /* offsetof(item type, its int position field) */
} opf_heap_t;

/* Room for capacity items (the set of items is known in advance: one per
 * certificate), allocated in p. */
void opf_heap_init(opf_heap_t *h, int capacity, opf_heap_key_fn key,
                   size_t pos_offset, apr_pool_t *p);

/* Inserts item, or moves it if it is already in (its key changed).
 * Returns 0, or -1 if the heap is full (never for a correct capacity). */
int opf_heap_set(opf_heap_t *h, void *item);

/* Removes item if it is in the heap. */
void opf_heap_remove(opf_heap_t *h, void *item);

/* The item with the smallest key, or NULL. */
void *opf_heap_top(const opf_heap_t *h);

/* Removes and returns the top item, or NULL. */
void *opf_heap_pop(opf_heap_t *h);

#endif
