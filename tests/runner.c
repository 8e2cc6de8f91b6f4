/* The one test runner: every Check suite of tests/unit and
 * tests/integration, collected at build time into suites.h.
 *
 *   rmem-tests [--unit | --integration] [SUITE-SUBSTRING ...]
 *
 * Ends with Check's summary line; exits 1 if anything failed. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNIT_SUITE(fn) Suite *fn(void);
#define INTEGRATION_SUITE(fn) Suite *fn(void);
#include "suites.h"
#undef UNIT_SUITE
#undef INTEGRATION_SUITE

static const struct suite_entry {
    const char *name;
    Suite *(*make)(void);
    int integration;
} suites[] = {
#define UNIT_SUITE(fn) {#fn, fn, 0},
#define INTEGRATION_SUITE(fn) {#fn, fn, 1},
#include "suites.h"
#undef UNIT_SUITE
#undef INTEGRATION_SUITE
};

static int wanted(const struct suite_entry *s, int kind, int argc, char **argv,
                  int first)
{
    if (kind >= 0 && s->integration != kind)
        return 0;
    if (first >= argc)
        return 1;
    for (int i = first; i < argc; i++)
        if (strstr(s->name, argv[i]))
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    int kind = -1, first = 1, failed;
    SRunner *sr = NULL;

    if (argc > 1 && strcmp(argv[1], "--unit") == 0)
        kind = 0, first = 2;
    else if (argc > 1 && strcmp(argv[1], "--integration") == 0)
        kind = 1, first = 2;

    /* Integration tests run real servers; give them room under sanitizers. */
    setenv("CK_DEFAULT_TIMEOUT", "120", 0);

    for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
        if (!wanted(&suites[i], kind, argc, argv, first))
            continue;
        if (!sr)
            sr = srunner_create(suites[i].make());
        else
            srunner_add_suite(sr, suites[i].make());
    }
    if (!sr) {
        fprintf(stderr, "rmem-tests: no suite matches\n");
        return 2;
    }
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
