/* The index-tracking binary min-heap of ims/heap.h: every move writes the node's new
 * position back, so removing or re-keying a node needs no search. */
#include "ims/heap.h"

#include <errno.h>
#include <stdlib.h>

static void put(ims_heap_t *h, size_t i, ims_heap_node_t *node)
{
    h->v[i] = node;
    node->idx = i;
}

static void sift_up(ims_heap_t *h, size_t i)
{
    ims_heap_node_t *node = h->v[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->v[parent]->due <= node->due)
            break;
        put(h, i, h->v[parent]);
        i = parent;
    }
    put(h, i, node);
}

static void sift_down(ims_heap_t *h, size_t i)
{
    ims_heap_node_t *node = h->v[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->n)
            break;
        if (child + 1 < h->n && h->v[child + 1]->due < h->v[child]->due)
            child++;
        if (node->due <= h->v[child]->due)
            break;
        put(h, i, h->v[child]);
        i = child;
    }
    put(h, i, node);
}

int ims_heap_reserve(ims_heap_t *h, size_t more)
{
    if (h->n + more <= h->cap)
        return 0;
    size_t cap = h->cap ? h->cap : 1024;
    while (cap < h->n + more)
        cap *= 2;
    ims_heap_node_t **v = realloc(h->v, cap * sizeof(*v));
    if (!v)
        return ENOMEM;
    h->v = v;
    h->cap = cap;
    return 0;
}

void ims_heap_push(ims_heap_t *h, ims_heap_node_t *node)
{
    put(h, h->n++, node);
    sift_up(h, node->idx);
}

void ims_heap_remove(ims_heap_t *h, ims_heap_node_t *node)
{
    size_t i = node->idx;
    ims_heap_node_t *last = h->v[--h->n];
    if (last != node) {
        put(h, i, last);
        sift_up(h, i);
        sift_down(h, last->idx);
    }
}

void ims_heap_set_due(ims_heap_t *h, ims_heap_node_t *node, int64_t due)
{
    if (due == node->due)
        return;
    int earlier = due < node->due;
    node->due = due;
    if (earlier)
        sift_up(h, node->idx);
    else
        sift_down(h, node->idx);
}

ims_heap_node_t *ims_heap_top(const ims_heap_t *h)
{
    return h->n ? h->v[0] : NULL;
}

void ims_heap_free(ims_heap_t *h)
{
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}
