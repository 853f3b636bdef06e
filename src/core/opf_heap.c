/* See opf_heap.h. Ties are broken by insertion order only loosely; the
 * scheduler does not rely on any order among equal times. */
#include "opf_heap.h"

static int *pos_of(const opf_heap_t *h, void *item)
{
    return (int *)((char *)item + h->pos_offset);
}

static void place(opf_heap_t *h, int i, void *item)
{
    h->items[i] = item;
    *pos_of(h, item) = i;
}

static void sift_up(opf_heap_t *h, int i)
{
    void *item = h->items[i];
    apr_time_t k = h->key(item);

    while (i > 0) {
        int parent = (i - 1) / 2;
        if (h->key(h->items[parent]) <= k) {
            break;
        }
        place(h, i, h->items[parent]);
        i = parent;
    }
    place(h, i, item);
}

static void sift_down(opf_heap_t *h, int i)
{
    void *item = h->items[i];
    apr_time_t k = h->key(item);

    for (;;) {
        int child = 2 * i + 1;
        if (child >= h->count) {
            break;
        }
        if (child + 1 < h->count
            && h->key(h->items[child + 1]) < h->key(h->items[child])) {
            child++;
        }
        if (k <= h->key(h->items[child])) {
            break;
        }
        place(h, i, h->items[child]);
        i = child;
    }
    place(h, i, item);
}

void opf_heap_init(opf_heap_t *h, int capacity, opf_heap_key_fn key,
                   size_t pos_offset, apr_pool_t *p)
{
    h->capacity = capacity > 0 ? capacity : 1;
    h->items = apr_pcalloc(p, sizeof(void *) * (apr_size_t)h->capacity);
    h->count = 0;
    h->key = key;
    h->pos_offset = pos_offset;
}

int opf_heap_set(opf_heap_t *h, void *item)
{
    int i = *pos_of(h, item);

    if (i >= 0 && i < h->count && h->items[i] == item) {
        /* Already in: the key may have gone either way. */
        sift_up(h, i);
        sift_down(h, *pos_of(h, item));
        return 0;
    }
    if (h->count >= h->capacity) {
        return -1;
    }
    i = h->count++;
    place(h, i, item);
    sift_up(h, i);
    return 0;
}

void opf_heap_remove(opf_heap_t *h, void *item)
{
    int i = *pos_of(h, item);
    void *last;

    if (i < 0 || i >= h->count || h->items[i] != item) {
        return;
    }
    *pos_of(h, item) = -1;
    last = h->items[--h->count];
    if (i == h->count) {
        return;
    }
    place(h, i, last);
    sift_up(h, i);
    sift_down(h, *pos_of(h, last));
}

void *opf_heap_top(const opf_heap_t *h)
{
    return h->count > 0 ? h->items[0] : NULL;
}

void *opf_heap_pop(opf_heap_t *h)
{
    void *top = opf_heap_top(h);

    if (top) {
        opf_heap_remove(h, top);
    }
    return top;
}
