/* Integration-test harness: a real rmemd on 127.0.0.1, started on a free
 * port and stopped again, also when the test process dies. */
#ifndef RMEM_TEST_HARNESS_H
#define RMEM_TEST_HARNESS_H

#include <sys/types.h>

struct rmemd {
    pid_t pid;
    int port;
    char addr[64];              /* "127.0.0.1:PORT", for rmem_options.server */
};

/* Starts build/rmemd --listen 127.0.0.1:0 plus extra (NULL-terminated, may
 * be NULL) and waits for its listening line.  0 or -errno. */
int rmemd_start(struct rmemd *d, const char *const *extra);

/* SIGTERM and wait: the exit status (0 = clean), or -errno. */
int rmemd_stop(struct rmemd *d);

/* Waits up to timeout_ms for rmemd to exit by itself (rmemctl shutdown):
 * its exit status, or -ETIMEDOUT with it still running. */
int rmemd_wait_exit(struct rmemd *d, int timeout_ms);

/* SIGKILL and wait; for tests that check what survives a crash. */
void rmemd_kill(struct rmemd *d);

/* A program run to completion with its output captured (harness_run). */
#define HARNESS_OUT_CAP (64 * 1024)
struct harness_run {
    int status;                 /* exit status, or 128 + signal */
    char out[HARNESS_OUT_CAP];  /* stdout, truncated to fit, NUL-ended */
    char err[HARNESS_OUT_CAP];  /* stderr, likewise */
};

/* Runs argv (argv[0] a path, NULL-terminated) with stdout and stderr
 * captured and the RMEM_* client environment cleared, so only its
 * arguments count; dies with the test.  0 or -errno. */
int harness_run(struct harness_run *r, const char *const *argv);

/* Path of a built program: RMEM_BUILD_DIR/name. */
const char *harness_path(const char *name);

#endif
