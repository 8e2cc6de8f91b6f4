/* Starts and stops rmemd for integration tests.  The server is this test
 * process's child with PR_SET_PDEATHSIG, so a test that crashes or times out
 * takes its server with it. */
#include "harness.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

const char *harness_path(const char *name)
{
    static __thread char path[4096];

    snprintf(path, sizeof(path), "%s/%s", RMEM_BUILD_DIR, name);
    return path;
}

static void exec_rmemd(int out_fd, const char *const *extra)
{
    const char *argv[64];
    int n = 0;

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(out_fd, STDOUT_FILENO);
    argv[n++] = harness_path("rmemd");
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    for (; extra && *extra && n < 62; extra++)
        argv[n++] = *extra;
    argv[n] = NULL;
    execv(argv[0], (char *const *)argv);
    _exit(127);
}

int rmemd_start(struct rmemd *d, const char *const *extra)
{
    char line[256];
    int fds[2];
    FILE *f;

    memset(d, 0, sizeof(*d));
    if (pipe(fds) < 0)
        return -errno;
    d->pid = fork();
    if (d->pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -errno;
    }
    if (d->pid == 0) {
        close(fds[0]);
        exec_rmemd(fds[1], extra);
    }
    close(fds[1]);
    f = fdopen(fds[0], "r");
    if (!f) {
        rmemd_kill(d);
        return -ENOMEM;
    }
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "rmemd: listening on 127.0.0.1:%d", &d->port) == 1)
            break;
    }
    /* The server's later stdout goes nowhere; closing our end is fine
     * because it prints only this one line there. */
    fclose(f);
    if (d->port <= 0) {
        rmemd_kill(d);
        return -EIO;
    }
    snprintf(d->addr, sizeof(d->addr), "127.0.0.1:%d", d->port);
    return 0;
}

int rmemd_stop(struct rmemd *d)
{
    int status;

    if (d->pid <= 0)
        return -ESRCH;
    kill(d->pid, SIGTERM);
    if (waitpid(d->pid, &status, 0) < 0)
        return -errno;
    d->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int rmemd_wait_exit(struct rmemd *d, int timeout_ms)
{
    int status;

    if (d->pid <= 0)
        return -ESRCH;
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        pid_t r = waitpid(d->pid, &status, WNOHANG);

        if (r < 0)
            return -errno;
        if (r == d->pid) {
            d->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        usleep(10 * 1000);
    }
    return -ETIMEDOUT;
}

void rmemd_kill(struct rmemd *d)
{
    if (d->pid <= 0)
        return;
    kill(d->pid, SIGKILL);
    waitpid(d->pid, NULL, 0);
    d->pid = 0;
}

/* Reads both pipes until both close, keeping what fits. */
static void capture(int ofd, int efd, struct harness_run *r)
{
    struct pollfd p[2] = {{ofd, POLLIN, 0}, {efd, POLLIN, 0}};
    char *buf[2] = {r->out, r->err};
    size_t len[2] = {0, 0};
    int open = 2;

    while (open > 0) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            char scratch[4096];
            ssize_t n;

            if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            if (len[i] < HARNESS_OUT_CAP - 1)
                n = read(p[i].fd, buf[i] + len[i], HARNESS_OUT_CAP - 1 - len[i]);
            else
                n = read(p[i].fd, scratch, sizeof(scratch));
            if (n <= 0) {
                close(p[i].fd);
                p[i].fd = -1;
                open--;
            } else if (len[i] < HARNESS_OUT_CAP - 1) {
                len[i] += (size_t)n;
            }
        }
    }
    r->out[len[0]] = '\0';
    r->err[len[1]] = '\0';
}

int harness_run(struct harness_run *r, const char *const *argv)
{
    static const char *const env[] = {"RMEM_SERVER", "RMEM_TENANT", "RMEM_TOKEN",
                                      "RMEM_ADMIN_TOKEN", "RMEM_TLS_CA",
                                      "RMEM_TLS_CERT", "RMEM_TLS_KEY", NULL};
    int out[2], err[2], status;
    pid_t pid;

    if (pipe(out) < 0)
        return -errno;
    if (pipe(err) < 0) {
        close(out[0]);
        close(out[1]);
        return -errno;
    }
    pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(out[1], STDOUT_FILENO);
        dup2(err[1], STDERR_FILENO);
        close(out[0]);
        close(err[0]);
        close(out[1]);
        close(err[1]);
        for (int i = 0; env[i]; i++)
            unsetenv(env[i]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    if (pid < 0) {
        close(out[0]);
        close(err[0]);
        return -errno;
    }
    capture(out[0], err[0], r);
    if (waitpid(pid, &status, 0) < 0)
        return -errno;
    r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return 0;
}
