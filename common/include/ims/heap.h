/* An index-tracking binary min-heap of nodes embedded in the caller's objects, keyed by a
 * 64-bit deadline: the expiry order of the S-CSCF's records and the P-CSCF's registrations. */
#ifndef IMS_HEAP_H
#define IMS_HEAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct ims_heap_node {
    int64_t due; /* the key: smallest first */
    size_t idx;  /* position in the heap, kept up to date by the heap */
} ims_heap_node_t;

typedef struct ims_heap {
    ims_heap_node_t **v;
    size_t n, cap;
} ims_heap_t;

/* Room for `more` pushes, taken before the objects exist so that filing them never fails.
 * Returns 0 or ENOMEM. */
int ims_heap_reserve(ims_heap_t *h, size_t more);
/* Files node (its due set) into room reserved before. */
void ims_heap_push(ims_heap_t *h, ims_heap_node_t *node);
void ims_heap_remove(ims_heap_t *h, ims_heap_node_t *node);
/* Gives a filed node a new due and moves it to its place. */
void ims_heap_set_due(ims_heap_t *h, ims_heap_node_t *node, int64_t due);
/* The node due first, or NULL when empty. */
ims_heap_node_t *ims_heap_top(const ims_heap_t *h);
void ims_heap_free(ims_heap_t *h);

#endif
