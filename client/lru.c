/* The client's LRU: active and inactive lists of resident pages.
 *
 * Pages join the inactive list when they are mapped.  A user program's
 * reads never reach us once a page is mapped, so the one reference we see
 * is a write-protect fault; it marks the page referenced, and the evictor
 * gives referenced pages a second chance by promoting them to the active
 * list.  When the active list outgrows the inactive one its tail is aged
 * back, referenced bit cleared (Linux's inactive_is_low balance). */
#include <errno.h>
#include <stdio.h>

#include "internal.h"

static void list_init(struct rmem__lru_list *l)
{
    l->head.next = l->head.prev = &l->head;
    l->nr = 0;
}

static void list_add_head(struct rmem__lru_list *l, struct rmem__page *p)
{
    p->next = l->head.next;
    p->prev = &l->head;
    l->head.next->prev = p;
    l->head.next = p;
    l->nr++;
}

static void list_del(struct rmem__lru_list *l, struct rmem__page *p)
{
    p->prev->next = p->next;
    p->next->prev = p->prev;
    p->next = p->prev = NULL;
    l->nr--;
}

static struct rmem__page *list_tail(struct rmem__lru_list *l)
{
    return l->head.prev == &l->head ? NULL : l->head.prev;
}

void rmem__lru_init(struct rmem__lru *lru)
{
    list_init(&lru->active);
    list_init(&lru->inactive);
}

void rmem__lru_add(struct rmem__lru *lru, struct rmem__page *p)
{
    p->flags &= ~(uint32_t)(RP_ACTIVE | RP_REFERENCED);
    list_add_head(&lru->inactive, p);
}

void rmem__lru_del(struct rmem__lru *lru, struct rmem__page *p)
{
    list_del(p->flags & RP_ACTIVE ? &lru->active : &lru->inactive, p);
    p->flags &= ~(uint32_t)(RP_ACTIVE | RP_REFERENCED);
}

void rmem__lru_mark_referenced(struct rmem__lru *lru, struct rmem__page *p)
{
    (void)lru;
    p->flags |= RP_REFERENCED;
}

static void activate_page(struct rmem__lru *lru, struct rmem__page *p)
{
    list_del(&lru->inactive, p);
    p->flags = (p->flags | RP_ACTIVE) & ~(uint32_t)RP_REFERENCED;
    list_add_head(&lru->active, p);
}

/* Move the active list's oldest pages to the inactive list until it is no
 * longer the larger one. */
static void age_active(struct rmem__lru *lru)
{
    struct rmem__page *p;

    while (lru->active.nr > lru->inactive.nr && (p = list_tail(&lru->active))) {
        list_del(&lru->active, p);
        p->flags &= ~(uint32_t)(RP_ACTIVE | RP_REFERENCED);
        list_add_head(&lru->inactive, p);
    }
}

size_t rmem__lru_isolate(struct rmem__lru *lru, struct rmem__page **out,
                         size_t max)
{
    /* Bounded: a referenced page is promoted instead of taken while the
     * budget lasts; once it is spent the tail is taken as it is, so a list
     * in which every page is referenced still yields victims. */
    uint64_t budget = lru->inactive.nr + lru->active.nr;
    size_t n = 0;

    while (n < max) {
        struct rmem__page *p;

        age_active(lru);
        p = list_tail(&lru->inactive);
        if (!p)
            break;
        if ((p->flags & RP_REFERENCED) && budget > 0) {
            budget--;
            activate_page(lru, p);
            continue;
        }
        list_del(&lru->inactive, p);
        p->flags &= ~(uint32_t)RP_REFERENCED;
        out[n++] = p;
    }
    return n;
}

int rmem__lru_check(const struct rmem__lru *lru, uint64_t resident)
{
    const struct rmem__lru_list *lists[2] = {&lru->active, &lru->inactive};
    uint64_t total = 0;

    for (int i = 0; i < 2; i++) {
        uint64_t n = 0;

        for (const struct rmem__page *p = lists[i]->head.next;
             p != &lists[i]->head; p = p->next, n++) {
            if (p->next->prev != p || !(p->flags & RP_RESIDENT) ||
                !!(p->flags & RP_ACTIVE) != (i == 0)) {
                fprintf(stderr, "librmem: lru: page %p on the %s list in a wrong state "
                        "(flags %#x)\n", (const void *)p, i ? "inactive" : "active",
                        p->flags);
                return -EUCLEAN;
            }
        }
        if (n != lists[i]->nr) {
            fprintf(stderr, "librmem: lru: %s list holds %llu pages, counted %llu\n",
                    i ? "inactive" : "active", (unsigned long long)n,
                    (unsigned long long)lists[i]->nr);
            return -EUCLEAN;
        }
        total += n;
    }
    if (total != resident) {
        fprintf(stderr, "librmem: lru: %llu pages on lists, %llu resident\n",
                (unsigned long long)total, (unsigned long long)resident);
        return -EUCLEAN;
    }
    return 0;
}
