/* test_idr.c - the id table that lets a 32-bit page descriptor name its
 * segment and memcg: ids from 1, lowest free reused first, growth past the
 * first allocation, iteration in id order, bad arguments refused, the
 * table freed with its last id, idr_check() after each change, and
 * catching a broken table.  The tables come from a pool, whose
 * invariants hold after each test. */
#include <stdlib.h>
#include <string.h>

#include "mm_test.h"

#define ck_assert_idr_ok(idr) ck_assert_int_eq(idr_check(idr), 0)
#define IDR_TEST_CAP 16                 /* idr.c's first table */

static int objs[200];
static struct mm *mm;                   /* the tables' memory */

static void setup(void)
{
    mm = test_mm(4 * MiB);
}

static void teardown(void)
{
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}

START_TEST(test_ids_start_at_one_and_find_their_pointer)
{
    struct idr idr = { .mm = mm };
    uint32_t id;

    ck_assert_ptr_null(idr_find(&idr, 0));
    ck_assert_ptr_null(idr_find(&idr, 1));
    for (unsigned i = 0; i < 200; i++) {         /* grows 16, 32, ... 256 */
        ck_assert_int_eq(idr_alloc(&idr, &objs[i], &id), 0);
        ck_assert_uint_eq(id, i + 1);
        ck_assert_idr_ok(&idr);
    }
    ck_assert_uint_eq(idr.count, 200);
    for (unsigned i = 0; i < 200; i++)
        ck_assert_ptr_eq(idr_find(&idr, i + 1), &objs[i]);
    ck_assert_ptr_null(idr_find(&idr, 0));
    ck_assert_ptr_null(idr_find(&idr, 201));
    ck_assert_ptr_null(idr_find(&idr, UINT32_MAX));
    idr_destroy(&idr);
    ck_assert_idr_ok(&idr);
    ck_assert_uint_eq(idr.cap, 0);
    ck_assert_ptr_null(idr_find(&idr, 1));
}
END_TEST

START_TEST(test_lowest_free_id_is_reused_first)
{
    struct idr idr = { .mm = mm };
    uint32_t id;

    for (unsigned i = 0; i < 10; i++)
        ck_assert_int_eq(idr_alloc(&idr, &objs[i], &id), 0);
    idr_remove(&idr, 7);
    ck_assert_idr_ok(&idr);
    idr_remove(&idr, 3);
    ck_assert_idr_ok(&idr);
    idr_remove(&idr, 3);                        /* twice: a no-op */
    idr_remove(&idr, 0);                        /* never handed out */
    idr_remove(&idr, 1000);                     /* beyond the table */
    ck_assert_idr_ok(&idr);
    ck_assert_uint_eq(idr.count, 8);
    ck_assert_ptr_null(idr_find(&idr, 3));
    ck_assert_int_eq(idr_alloc(&idr, &objs[100], &id), 0);
    ck_assert_uint_eq(id, 3);
    ck_assert_idr_ok(&idr);
    ck_assert_int_eq(idr_alloc(&idr, &objs[101], &id), 0);
    ck_assert_uint_eq(id, 7);
    ck_assert_idr_ok(&idr);
    ck_assert_int_eq(idr_alloc(&idr, &objs[102], &id), 0);
    ck_assert_uint_eq(id, 11);
    ck_assert_uint_eq(idr.count, 11);
    ck_assert_idr_ok(&idr);
    idr_destroy(&idr);
}
END_TEST

START_TEST(test_next_walks_ids_in_use_in_order)
{
    static const uint32_t keep[] = {2, 5, 6, 17, 40};
    struct idr idr = { .mm = mm };
    uint32_t id, n = 0;

    ck_assert_uint_eq(idr_next(&idr, 0), 0);     /* empty table */
    for (unsigned i = 0; i < 40; i++)
        ck_assert_int_eq(idr_alloc(&idr, &objs[i], &id), 0);
    for (uint32_t i = 1; i <= 40; i++) {
        bool kept = false;

        for (unsigned k = 0; k < sizeof(keep) / sizeof(keep[0]); k++)
            kept |= keep[k] == i;
        if (!kept)
            idr_remove(&idr, i);
        ck_assert_idr_ok(&idr);
    }
    for (id = idr_next(&idr, 0); id; id = idr_next(&idr, id + 1))
        ck_assert_uint_eq(id, keep[n++]);
    ck_assert_uint_eq(n, sizeof(keep) / sizeof(keep[0]));
    ck_assert_uint_eq(idr.count, n);
    ck_assert_uint_eq(idr_next(&idr, 41), 0);
    idr_destroy(&idr);
}
END_TEST

START_TEST(test_null_pointer_is_refused)
{
    struct idr idr = { .mm = mm };
    uint32_t id = 99;

    ck_assert_int_eq(idr_alloc(&idr, NULL, &id), -EINVAL);
    ck_assert_uint_eq(id, 99);
    ck_assert_uint_eq(idr.count, 0);
    ck_assert_idr_ok(&idr);
    idr_destroy(&idr);
}
END_TEST

/* idr_check() notices each broken identity, and passes once it is undone. */
START_TEST(test_check_detects)
{
    struct idr idr = { .mm = mm }, saved;
    void *slots[IDR_TEST_CAP];
    uint32_t id;

    for (unsigned i = 0; i < 5; i++)
        ck_assert_int_eq(idr_alloc(&idr, &objs[i], &id), 0);
    idr_remove(&idr, 2);
    ck_assert_idr_ok(&idr);
    ck_assert_uint_eq(idr.cap, IDR_TEST_CAP);
    saved = idr;
    memcpy(slots, idr.slots, sizeof(slots));
    test_log_quiet();
    switch (_i) {
    case 0:
        idr.count++;
        break;
    case 1:
        idr.slots[0] = &objs[0];
        break;
    case 2:
        idr.hint = 3;                   /* id 2 is free below it */
        break;
    case 3:                             /* emptied, yet the array kept */
        memset(idr.slots, 0, sizeof(slots));
        idr.count = 0;
        idr.hint = 1;
        break;
    }
    ck_assert_int_eq(idr_check(&idr), -EUCLEAN);
    ck_assert_int_eq(test_log_count, 1);
    test_log_restore();
    memcpy(idr.slots, slots, sizeof(slots));
    idr = saved;
    ck_assert_idr_ok(&idr);
    idr_destroy(&idr);
}
END_TEST

Suite *idr_suite(void)
{
    Suite *s = suite_create("idr");
    TCase *tc = tcase_create("idr");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_ids_start_at_one_and_find_their_pointer);
    tcase_add_test(tc, test_lowest_free_id_is_reused_first);
    tcase_add_test(tc, test_next_walks_ids_in_use_in_order);
    tcase_add_test(tc, test_null_pointer_is_refused);
    tcase_add_loop_test(tc, test_check_detects, 0, 4);
    suite_add_tcase(s, tc);
    return s;
}
