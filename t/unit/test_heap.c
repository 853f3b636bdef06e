/* The scheduler's heap: against a brute-force model under random
 * inserts, key changes, removals and pops. */
#include <stdlib.h>

#include <apr_general.h>

#include "opf_heap.h"
#include "tap.h"

#define N 2000

typedef struct item {
    apr_time_t key;
    int pos;
    int in; /* the model: is it in the heap */
} item_t;

static apr_time_t key_of(const void *p)
{
    return ((const item_t *)p)->key;
}

/* The smallest key among the items the model says are in. */
static apr_time_t model_min(item_t *items, int *count)
{
    apr_time_t min = APR_INT64_MAX;
    int i;

    *count = 0;
    for (i = 0; i < N; i++) {
        if (items[i].in) {
            (*count)++;
            if (items[i].key < min) {
                min = items[i].key;
            }
        }
    }
    return min;
}

/* Every parent <= its children, every position recorded right. */
static int heap_sound(const opf_heap_t *h)
{
    int i;

    for (i = 0; i < h->count; i++) {
        const item_t *it = h->items[i];
        if (it->pos != i) {
            return 0;
        }
        if (i > 0 && key_of(h->items[(i - 1) / 2]) > it->key) {
            return 0;
        }
    }
    return 1;
}

int main(void)
{
    static item_t items[N];
    apr_pool_t *p;
    opf_heap_t h;
    int i, step, count, sound = 1, tops_ok = 1, pops_ok = 1;
    apr_time_t last;

    apr_initialize();
    apr_pool_create(&p, NULL);
    plan(9);
    srand(42);

    for (i = 0; i < N; i++) {
        items[i].pos = -1;
    }
    opf_heap_init(&h, N, key_of, offsetof(item_t, pos), p);
    ok(opf_heap_top(&h) == NULL && opf_heap_pop(&h) == NULL,
       "an empty heap has no top");

    for (step = 0; step < 200000; step++) {
        item_t *it = &items[rand() % N];
        int op = rand() % 4;

        if (op == 0 || op == 1) {    /* insert or change the key */
            it->key = rand() % 1000; /* many equal keys on purpose */
            opf_heap_set(&h, it);
            it->in = 1;
        }
        else if (op == 2) {
            opf_heap_remove(&h, it);
            it->in = 0;
        }
        else if (h.count > 0) {
            item_t *top = opf_heap_pop(&h);
            if (top->key != model_min(items, &count)) {
                tops_ok = 0;
            }
            top->in = 0;
        }
        if (step % 997 == 0) {
            sound = sound && heap_sound(&h);
            if (h.count > 0
                && key_of(opf_heap_top(&h)) != model_min(items, &count)) {
                tops_ok = 0;
            }
        }
    }
    ok(sound, "heap order and recorded positions hold after 200,000 "
              "random operations");
    ok(tops_ok, "the top is always the smallest key");
    model_min(items, &count);
    ok(count == h.count, "the heap holds what was put in and not taken out");
    for (i = 0; i < N; i++) {
        if ((items[i].pos >= 0) != items[i].in) {
            break;
        }
    }
    ok(i == N, "an item's position is -1 exactly when it is not in");

    last = -1;
    while ((opf_heap_top(&h)) != NULL) {
        item_t *it = opf_heap_pop(&h);
        if (it->key < last) {
            pops_ok = 0;
        }
        last = it->key;
        it->in = 0;
    }
    ok(pops_ok, "popping everything gives the keys in order");
    ok(h.count == 0, "and leaves it empty");

    opf_heap_remove(&h, &items[0]);
    ok(h.count == 0, "removing an item that is not in does nothing");
    for (i = 0; i < N; i++) {
        items[i].key = N - i;
        opf_heap_set(&h, &items[i]);
    }
    items[N - 1].key = 5000; /* the top moves to the bottom */
    opf_heap_set(&h, &items[N - 1]);
    ok(opf_heap_set(&h, &items[0]) == 0 && h.count == N
           && ((item_t *)opf_heap_top(&h))->key == 2 && heap_sound(&h),
       "a full heap re-keys in place, never grows");

    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
