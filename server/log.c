/* Logging: one line per event on stderr, "rmemd[pid]: <level>: message",
 * filtered by the log-level option.  Messages say why, not only what. */
#include "internal.h"

#include <unistd.h>

enum log_level log_level = LL_INFO;

static const char *const level_names[] = {
    [LL_ERROR] = "error",
    [LL_WARN] = "warn",
    [LL_INFO] = "info",
    [LL_DEBUG] = "debug",
};

const char *log_level_name(enum log_level lvl)
{
    return (unsigned)lvl <= LL_DEBUG ? level_names[lvl] : "?";
}

void log_print(enum log_level lvl, const char *fmt, ...)
{
    char line[1024];
    int n;
    va_list ap;

    if (lvl > log_level)
        return;
    n = snprintf(line, sizeof(line), "rmemd[%ld]: %s: ", (long)getpid(),
                 log_level_name(lvl));
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    /* One fprintf per line, so lines from a forked helper never interleave. */
    fprintf(stderr, "%s\n", line);
}
