/* idmap.h - a small uint64 -> pointer hash map for the server's handle
 * tables (a session's segments, a tenant's sessions).
 *
 * Open addressing with linear probing and backward-shift deletion, so there
 * are no tombstones; key 0 marks an empty slot and is never a valid id.
 * Keys and values share one table from the pool (mm_kvzalloc), like every
 * other piece of server metadata.  Header-only (static inline) so it adds
 * no symbols to the test runner, which links every server object next to
 * the client library. */
#ifndef RMEM_SERVER_IDMAP_H
#define RMEM_SERVER_IDMAP_H

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "../mm/mm.h"

struct idmap {
    struct mm *mm;                      /* the table's memory (idmap_init) */
    uint64_t *keys;                     /* 0 = empty slot */
    void **vals;                        /* after the keys, in one table */
    uint32_t cap;                       /* power of two, or 0 */
    uint32_t len;
};

#define IDMAP_MIN_CAP 16u

static inline void idmap_init(struct idmap *m, struct mm *mm)
{
    memset(m, 0, sizeof(*m));
    m->mm = mm;
}

static inline uint32_t idmap__slot(const struct idmap *m, uint64_t key)
{
    /* Fibonacci hashing: sequential ids spread over the table. */
    return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & (m->cap - 1);
}

static inline void *idmap_get(const struct idmap *m, uint64_t key)
{
    if (key == 0 || m->cap == 0)
        return NULL;
    for (uint32_t i = idmap__slot(m, key);; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == key)
            return m->vals[i];
        if (m->keys[i] == 0)
            return NULL;
    }
}

static inline void idmap__insert(struct idmap *m, uint64_t key, void *val)
{
    uint32_t i = idmap__slot(m, key);

    while (m->keys[i] != 0)
        i = (i + 1) & (m->cap - 1);
    m->keys[i] = key;
    m->vals[i] = val;
    m->len++;
}

static inline int idmap__grow(struct idmap *m)
{
    struct idmap old = *m;
    uint32_t cap = old.cap ? old.cap * 2 : IDMAP_MIN_CAP;

    if (cap < old.cap)
        return -ENOMEM;
    m->keys = mm_kvzalloc(m->mm, (size_t)cap * (sizeof(*m->keys) + sizeof(*m->vals)));
    if (!m->keys) {
        *m = old;
        return -ENOMEM;
    }
    m->vals = (void **)(m->keys + cap);
    m->cap = cap;
    m->len = 0;
    for (uint32_t i = 0; i < old.cap; i++)
        if (old.keys[i])
            idmap__insert(m, old.keys[i], old.vals[i]);
    mm_kvfree(m->mm, old.keys);
    return 0;
}

/* 0, -EINVAL for key 0, -EEXIST, or -ENOMEM. */
static inline int idmap_put(struct idmap *m, uint64_t key, void *val)
{
    int err;

    if (key == 0)
        return -EINVAL;
    if (idmap_get(m, key))
        return -EEXIST;
    if ((m->len + 1) * 4 > m->cap * 3) {        /* load factor 3/4 */
        err = idmap__grow(m);
        if (err)
            return err;
    }
    idmap__insert(m, key, val);
    return 0;
}

/* Removes key; returns its value or NULL. */
static inline void *idmap_del(struct idmap *m, uint64_t key)
{
    uint32_t i, j, k, mask;
    void *val;

    if (key == 0 || m->cap == 0)
        return NULL;
    mask = m->cap - 1;
    for (i = idmap__slot(m, key); m->keys[i] != key; i = (i + 1) & mask)
        if (m->keys[i] == 0)
            return NULL;
    val = m->vals[i];
    /* Backward shift: move later entries of the cluster into the hole
     * unless their home slot lies cyclically in (i, j]. */
    for (j = (i + 1) & mask; m->keys[j] != 0; j = (j + 1) & mask) {
        k = idmap__slot(m, m->keys[j]);
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
            continue;
        m->keys[i] = m->keys[j];
        m->vals[i] = m->vals[j];
        i = j;
    }
    m->keys[i] = 0;
    m->vals[i] = NULL;
    m->len--;
    return val;
}

static inline void idmap_free(struct idmap *m)
{
    mm_kvfree(m->mm, m->keys);
    idmap_init(m, m->mm);
}

/* Iterate: for (uint32_t i = 0; i < m.cap; i++) if (m.keys[i]) ... */

#endif
