/* test_debug.c - the reporting side of mm/: one log hook receives every
 * message at its syslog level, dump_page names a page's state and flags,
 * and mm_check walks a fresh pool, a used one and an emptied one clean. */
#include <stdio.h>

#include "mm_test.h"

static char last_msg[512];
static int last_level, nr_msgs;

static void capture_log(int level, const char *msg)
{
    last_level = level;
    snprintf(last_msg, sizeof(last_msg), "%s", msg);
    nr_msgs++;
}

START_TEST(test_log_hook_gets_level_and_text)
{
    nr_msgs = 0;
    mm_set_log(capture_log);
    mm_log(MM_LOG_WARNING, "zone %d is %s", 3, "low");
    ck_assert_int_eq(nr_msgs, 1);
    ck_assert_int_eq(last_level, MM_LOG_WARNING);
    ck_assert_str_eq(last_msg, "zone 3 is low");
    mm_set_log(NULL);                           /* back to stderr */
    mm_log(MM_LOG_DEBUG, "not captured");
    ck_assert_int_eq(nr_msgs, 1);
}
END_TEST

START_TEST(test_dump_page_names_state_and_flags)
{
    struct mm *mm = test_mm(4 * MiB);
    struct memcg *cg = test_memcg(mm, "t");
    struct segment *seg = test_segment(mm, cg, 8);
    static unsigned char page[MM_PAGE_SIZE];
    pte_t *pte;

    ck_assert_int_eq(segment_write(seg, 5, 1, page), 0);
    pte = pgtable_lookup(&seg->pt, 5);
    ck_assert_ptr_nonnull(pte);
    mm_set_log(capture_log);
    dump_page(mm, pte_pfn(*pte), "looked at");
    ck_assert_ptr_nonnull(strstr(last_msg, "looked at"));
    ck_assert_ptr_nonnull(strstr(last_msg, "state DATA"));
    ck_assert_ptr_nonnull(strstr(last_msg, "lru"));
    ck_assert_int_eq(last_level, MM_LOG_ERR);
    dump_page(mm, (pfn_t)mm->nr_pages + 7, "out of range");
    ck_assert_ptr_nonnull(strstr(last_msg, "invalid"));
    mm_set_log(NULL);
    ck_assert_mm_ok(mm);
    segment_destroy(seg);
    ck_assert_mm_ok(mm);
    memcg_destroy(cg);
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

Suite *debug_suite(void)
{
    Suite *s = suite_create("debug");
    TCase *tc = tcase_create("debug");

    tcase_add_test(tc, test_log_hook_gets_level_and_text);
    tcase_add_test(tc, test_dump_page_names_state_and_flags);
    suite_add_tcase(s, tc);
    return s;
}
