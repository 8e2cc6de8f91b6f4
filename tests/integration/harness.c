/* Starts and stops rmemd for integration tests.  The server is this test
 * process's child with PR_SET_PDEATHSIG, so a test that crashes or times out
 * takes its server with it. */
#include "harness.h"

#include <errno.h>
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

void rmemd_kill(struct rmemd *d)
{
    if (d->pid <= 0)
        return;
    kill(d->pid, SIGKILL);
    waitpid(d->pid, NULL, 0);
    d->pid = 0;
}
