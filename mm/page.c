/* page.c - the page descriptor's state machine.
 *
 * Every change of page->state goes through page_set_state() (inline in
 * internal.h), which checks the predecessor against one table of legal
 * transitions, page_allowed_from, and keeps the zone's per-state page
 * counts, so that mm_check() can compare counters with a walk of the
 * memmap.  A wrong predecessor means a bug elsewhere
 * (a double free, a table page freed as data): it is refused and logged,
 * never acted on, and never aborts the server. */
#include <errno.h>

#include "internal.h"

#define BIT(s) (1u << PAGE_##s)

/* page_allowed_from[to]: the states a page may come from.  TAIL ->
 * ALLOCATED is a split (buddy_split_pages): a tail of an allocated block
 * becomes the head of an allocated block of its own. */
const unsigned page_allowed_from[NR_PAGE_STATES] = {
    [PAGE_FREE] = BIT(ALLOCATED) | BIT(TAIL),
    [PAGE_ALLOCATED] = BIT(FREE) | BIT(DATA) | BIT(TABLE) | BIT(SLAB) |
                       BIT(KVMALLOC) | BIT(TAIL),
    [PAGE_DATA] = BIT(ALLOCATED),
    [PAGE_TABLE] = BIT(ALLOCATED),
    [PAGE_SLAB] = BIT(ALLOCATED) | BIT(TAIL),
    [PAGE_KVMALLOC] = BIT(ALLOCATED),
    [PAGE_TAIL] = BIT(FREE) | BIT(SLAB),
};

static const char *const state_names[NR_PAGE_STATES] = {
#define PAGE_STATE_NAME(s) #s,
    PAGE_STATES(PAGE_STATE_NAME)
#undef PAGE_STATE_NAME
};

const char *page_state_name(unsigned state)
{
    return state < NR_PAGE_STATES ? state_names[state] : "INVALID";
}

bool page_state_allowed(enum page_state from, enum page_state to)
{
    if ((unsigned)from >= NR_PAGE_STATES || (unsigned)to >= NR_PAGE_STATES)
        return false;
    return (page_allowed_from[to] & (1u << from)) != 0;
}

int page_state_refused(const struct mm *mm, const struct page *page,
                       enum page_state to)
{
    if (!page_state_allowed(page->state, to)) {
        mm_log(MM_LOG_ERR, "mm: page %u: transition %s -> %s refused",
               (unsigned)page_to_pfn(mm, page), page_state_name(page->state),
               page_state_name(to));
        return -EINVAL;
    }
    /* A listed or locked page is still reachable by reclaim or I/O; a
     * cached one would leak its slot. */
    mm_log(MM_LOG_ERR, "mm: page %u: leaves DATA while %s",
           (unsigned)page_to_pfn(mm, page),
           page_test(page, PG_lru) ? "on an LRU list" :
           page_test(page, PG_locked) ? "locked for I/O" :
           "in the swap cache");
    return -EBUSY;
}

void pfn_list_add_head(struct mm *mm, pfn_t *head, pfn_t *tail, pfn_t pfn)
{
    struct page *page = pfn_to_page(mm, pfn);

    page->prev = PFN_NONE;
    page->next = *head;
    if (*head != PFN_NONE)
        pfn_to_page(mm, *head)->prev = pfn;
    else if (tail)
        *tail = pfn;
    *head = pfn;
}

void pfn_list_del(struct mm *mm, pfn_t *head, pfn_t *tail, pfn_t pfn)
{
    struct page *page = pfn_to_page(mm, pfn);

    if (page->prev != PFN_NONE)
        pfn_to_page(mm, page->prev)->next = page->next;
    else
        *head = page->next;
    if (page->next != PFN_NONE)
        pfn_to_page(mm, page->next)->prev = page->prev;
    else if (tail)
        *tail = page->prev;
    page->next = page->prev = PFN_NONE;
}
