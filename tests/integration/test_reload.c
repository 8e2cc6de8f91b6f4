/* Reloading and stopping rmemd as an operator does: SIGHUP and `rmemctl
 * reload` reread the config file and apply the reloadable options (a new
 * default-token locks out a client without it), a broken file changes
 * nothing, an option that needs a restart is reported and kept, and
 * `rmemctl shutdown` stops the server cleanly for the admin role only. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../client/rmem.h"
#include "harness.h"

static struct rmemd d;
static char conf[] = "/tmp/rmem-reload-XXXXXX";

static void write_conf(const char *text)
{
    FILE *f = fopen(conf, "w");

    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(fputs(text, f), 0);
    ck_assert_int_eq(fclose(f), 0);
}

static void setup(void)
{
    int fd = mkstemp(conf);

    ck_assert_int_ge(fd, 0);
    close(fd);
    write_conf("pool 64M\nlog-level info\n");
    ck_assert_int_eq(rmemd_start(&d, (const char *[]){"-c", conf, NULL}), 0);
}

static void teardown(void)
{
    if (d.pid > 0)
        rmemd_stop(&d);
    unlink(conf);
    strcpy(conf, "/tmp/rmem-reload-XXXXXX");
}

/* 0 if a client with this token (NULL: none) gets in, else its errno. */
static int try_connect(const char *token)
{
    rmem_options o;
    rmem_client *c;

    rmem_options_init(&o);
    o.server = d.addr;
    o.tenant = "default";
    o.token = token;
    c = rmem_connect(&o);
    if (!c)
        return errno;
    rmem_disconnect(c);
    return 0;
}

static int rmemctl(struct harness_run *r, const char *cmd, const char *opt)
{
    const char *argv[] = {harness_path("rmemctl"), "-s", d.addr,
                          opt ? opt : cmd, opt ? cmd : NULL, NULL};

    ck_assert_int_eq(harness_run(r, argv), 0);
    return r->status;
}

START_TEST(test_sighup_applies_a_new_default_token)
{
    int err = 0;

    ck_assert_int_eq(try_connect(NULL), 0);
    write_conf("pool 64M\ndefault-token s3cret\n");
    ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
    /* The signal is handled on the loop; poll for its effect. */
    for (int i = 0; i < 500 && err != EACCES; i++) {
        err = try_connect(NULL);
        if (err != EACCES)
            usleep(10 * 1000);
    }
    ck_assert_int_eq(err, EACCES);
    ck_assert_int_eq(try_connect("wrong"), EACCES);
    ck_assert_int_eq(try_connect("s3cret"), 0);
}
END_TEST

START_TEST(test_reload_with_errors_keeps_the_running_config)
{
    static struct harness_run r;

    write_conf("pool 64M\ndefault-token s3cret\n");
    ck_assert_int_eq(rmemctl(&r, "reload", NULL), 0);
    ck_assert_ptr_nonnull(strstr(r.out, "reloaded: 1 option changed"));
    write_conf("pool 64M\ndefault-token other\nno-such-option 1\n");
    ck_assert_int_eq(rmemctl(&r, "reload", NULL), 1);
    ck_assert_ptr_nonnull(strstr(r.err, "running one is kept"));
    ck_assert_int_eq(try_connect("other"), EACCES);
    ck_assert_int_eq(try_connect("s3cret"), 0);
}
END_TEST

START_TEST(test_reload_keeps_options_that_need_a_restart)
{
    static struct harness_run r;

    write_conf("pool 128M\nlog-level debug\n");
    ck_assert_int_eq(rmemctl(&r, "reload", "--json"), 0);
    ck_assert_ptr_nonnull(strstr(r.out, "{\"changed\": 1}"));   /* log-level only */
    ck_assert_int_eq(rmemctl(&r, "info", NULL), 0);
    ck_assert_ptr_nonnull(strstr(r.out, "pool_bytes: 67108864\n"));
    ck_assert_int_eq(rmemctl(&r, "reload", "--json"), 0);
    ck_assert_ptr_nonnull(strstr(r.out, "{\"changed\": 0}"));
}
END_TEST

START_TEST(test_shutdown_stops_the_server_cleanly)
{
    static struct harness_run r;

    ck_assert_int_eq(rmemctl(&r, "shutdown", NULL), 0);
    ck_assert_int_eq(rmemd_wait_exit(&d, 10000), 0);
}
END_TEST

START_TEST(test_shutdown_needs_the_admin_role)
{
    static struct harness_run r;
    const char *argv[] = {harness_path("rmemctl"), "-s", d.addr, "--admin-token",
                          "guess", "shutdown", NULL};

    write_conf("pool 64M\nadmin-token adm1n\n");
    ck_assert_int_eq(rmemctl(&r, "reload", NULL), 0);
    ck_assert_int_eq(harness_run(&r, argv), 0);
    ck_assert_int_eq(r.status, 1);
    ck_assert_int_eq(rmemd_wait_exit(&d, 200), -ETIMEDOUT);
    ck_assert_int_eq(try_connect(NULL), 0);     /* still serving */
}
END_TEST

Suite *reload_suite(void)
{
    Suite *s = suite_create("reload");
    TCase *tc = tcase_create("reload");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sighup_applies_a_new_default_token);
    tcase_add_test(tc, test_reload_with_errors_keeps_the_running_config);
    tcase_add_test(tc, test_reload_keeps_options_that_need_a_restart);
    tcase_add_test(tc, test_shutdown_stops_the_server_cleanly);
    tcase_add_test(tc, test_shutdown_needs_the_admin_role);
    suite_add_tcase(s, tc);
    return s;
}
