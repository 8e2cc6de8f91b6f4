/* rmemd's command line and config file as an operator meets them: exit
 * status 2 and a reason for anything wrong, protected mode, the config file
 * format, and deploy/rmemd.conf documenting every option --help lists. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* Runs rmemd with args (NULL-terminated) until it exits by itself or prints
 * its listening line (then SIGTERM).  Returns the exit status; stdout and
 * stderr land in out/err. */
static int run_rmemd(const char *const *args, char *out, size_t outcap, char *err,
                     size_t errcap)
{
    const char *argv[32];
    int po[2], pe[2], n = 0, status;
    size_t olen = 0, elen = 0;
    pid_t pid;

    argv[n++] = harness_path("rmemd");
    for (; *args && n < 31; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    ck_assert_int_eq(pipe(po), 0);
    ck_assert_int_eq(pipe(pe), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(po[1], STDOUT_FILENO);
        dup2(pe[1], STDERR_FILENO);
        close(po[0]);
        close(pe[0]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    for (;;) {
        ssize_t r = read(po[0], out + olen, outcap - 1 - olen);

        if (r <= 0)
            break;
        olen += (size_t)r;
        out[olen] = '\0';
        if (strstr(out, "listening on") && strchr(strstr(out, "listening on"), '\n')) {
            kill(pid, SIGTERM);
            break;
        }
        if (olen + 1 >= outcap)
            break;
    }
    out[olen] = '\0';
    for (;;) {
        ssize_t r = read(pe[0], err + elen, errcap - 1 - elen);

        if (r <= 0)
            break;
        elen += (size_t)r;
        if (elen + 1 >= errcap)
            break;
    }
    err[elen] = '\0';
    close(po[0]);
    close(pe[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static char out[1 << 16], err[1 << 16];

static const struct bad_case {
    const char *args[5];
    const char *says;                   /* expected in the error message */
} bad_cases[] = {
    {{"--no-such-option", "1"}, "unknown option '--no-such-option'"},
    {{"--pool", "12X"}, "pool: bad value '12X'"},
    {{"--pool", "1K"}, "out of range"},
    {{"--pool", "99999999999999999999G"}, "pool: bad value"},
    {{"--log-level", "loud"}, "log-level: bad value 'loud'"},
    {{"--numa-policy", "bind:"}, "numa-policy: bad value"},
    {{"--numa-policy", "bind:64"}, "numa-policy: bad value"},
    {{"--listen", "127.0.0.1"}, "listen: bad value"},
    {{"--listen", "127.0.0.1:65536"}, "listen: bad value"},
    {{"--session-grace", "-1"}, "session-grace: bad value '-1'"},
    {{"--session-grace", "86401"}, "out of range"},
    {{"--session-grace"}, "--session-grace needs a value"},
    {{"stray"}, "unexpected argument 'stray'"},
    {{"-c", "/nonexistent/rmemd.conf"}, "cannot open config file"},
    {{"--listen", "0.0.0.0:0"}, "protected mode"},
    {{"--listen", "0.0.0.0:0", "--default-token", "t"}, "admin role has no token"},
    {{"--tls-key", "server.key"}, "TLS needs both tls-cert and tls-key"},
    {{"--tls-ca", "ca.pem"}, "tls-ca (client certificates) needs tls-cert"},
};

START_TEST(bad_option_exits_2_with_reason)
{
    const struct bad_case *c = &bad_cases[_i];

    ck_assert_int_eq(run_rmemd(c->args, out, sizeof(out), err, sizeof(err)), 2);
    ck_assert_msg(strstr(err, c->says), "expected '%s' in: %s", c->says, err);
    ck_assert_msg(strstr(err, "rmemd[") && strstr(err, "]: error: "),
                  "not in log format: %s", err);
    ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(protected_mode_lifts_with_every_credential)
{
    const char *args[] = {"--listen", "0.0.0.0:0", "--pool", "16M", "--default-token",
                          "t", "--admin-token", "a", NULL};

    ck_assert_int_eq(run_rmemd(args, out, sizeof(out), err, sizeof(err)), 0);
    ck_assert_msg(strncmp(out, "rmemd: listening on 0.0.0.0:", 28) == 0, "%s", out);
}
END_TEST

START_TEST(listening_line_is_exact)
{
    const char *args[] = {"--listen", "127.0.0.1:0", "--pool", "16M", NULL};
    int port = 0;
    char nl = 0;

    ck_assert_int_eq(run_rmemd(args, out, sizeof(out), err, sizeof(err)), 0);
    ck_assert_int_eq(sscanf(out, "rmemd: listening on 127.0.0.1:%d%c", &port, &nl), 2);
    ck_assert_int_gt(port, 0);
    ck_assert_int_eq(nl, '\n');
    ck_assert_ptr_eq(strchr(out, '\n'), out + strlen(out) - 1);   /* one line */
}
END_TEST

START_TEST(config_file_keys_comments_and_flag_override)
{
    char path[] = "/tmp/rmemd-test-XXXXXX";
    int fd = mkstemp(path);
    FILE *f;
    const char *args[] = {"-c", path, "--pool", "16M", NULL};

    ck_assert_int_ge(fd, 0);
    f = fdopen(fd, "w");
    fprintf(f, "# a comment\n\n  listen   127.0.0.1:0  \npool \"64M\"\n"
               "log-level debug\nsession-grace 0\nnuma-policy local\n");
    fclose(f);
    ck_assert_int_eq(run_rmemd(args, out, sizeof(out), err, sizeof(err)), 0);
    ck_assert_ptr_nonnull(strstr(out, "rmemd: listening on 127.0.0.1:"));
    ck_assert_msg(strstr(err, "pool 16777216 bytes"), "flag did not win: %s", err);
    ck_assert_msg(strstr(err, "session grace 0s"), "%s", err);

    f = fopen(path, "a");
    fprintf(f, "pool 8M\nbogus-key 1\n");
    fclose(f);
    ck_assert_int_eq(run_rmemd(args, out, sizeof(out), err, sizeof(err)), 2);
    ck_assert_msg(strstr(err, ":9: unknown option 'bogus-key'"), "%s", err);
    unlink(path);
}
END_TEST

START_TEST(deploy_conf_documents_every_option)
{
    const char *help[] = {"--help", NULL};
    char conf_path[4096], conf[1 << 15], *p, line[160];
    const char *with_conf[] = {"-c", conf_path, "--listen", "127.0.0.1:0", "--pool",
                               "16M", NULL};
    size_t n;
    FILE *f;
    int options = 0;

    ck_assert_int_eq(run_rmemd(help, out, sizeof(out), err, sizeof(err)), 0);
    /* harness_path's buffer is reused by run_rmemd: keep a copy. */
    snprintf(conf_path, sizeof(conf_path), "%s", harness_path("../deploy/rmemd.conf"));
    f = fopen(conf_path, "r");
    ck_assert_msg(f != NULL, "%s: %s", conf_path, strerror(errno));
    n = fread(conf, 1, sizeof(conf) - 1, f);
    conf[n] = '\0';
    fclose(f);
    /* --help: "  --NAME  doc" then "  default: VALUE". */
    for (p = strstr(out, "\n  --"); p; p = strstr(p + 1, "\n  --")) {
        char name[64], def[64];
        const char *d;

        if (sscanf(p, "\n  --%63s", name) != 1)
            continue;
        d = strstr(p, "default: ");
        ck_assert_ptr_nonnull(d);
        ck_assert_int_eq(sscanf(d, "default: %63s", def), 1);
        if (strcmp(def, "(unset)") == 0)
            snprintf(line, sizeof(line), "\n# %s ", name);
        else
            snprintf(line, sizeof(line), "\n# %s %s\n", name, def);
        ck_assert_msg(strstr(conf, line), "deploy/rmemd.conf lacks '%s'", line + 1);
        options++;
    }
    ck_assert_int_ge(options, 7);
    /* The shipped file itself is valid. */
    ck_assert_int_eq(run_rmemd(with_conf, out, sizeof(out), err, sizeof(err)), 0);
}
END_TEST

Suite *server_config_suite(void)
{
    Suite *s = suite_create("server_config");
    TCase *tc = tcase_create("config");

    tcase_add_loop_test(tc, bad_option_exits_2_with_reason, 0,
                        (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
    tcase_add_test(tc, protected_mode_lifts_with_every_credential);
    tcase_add_test(tc, listening_line_is_exact);
    tcase_add_test(tc, config_file_keys_comments_and_flag_override);
    tcase_add_test(tc, deploy_conf_documents_every_option);
    suite_add_tcase(s, tc);
    return s;
}
