/* Client options: built-in defaults, then the RMEM_* environment, as
 * rmem_options_init promises; and the SIZE syntax (K/M/G) shared by every
 * client-side command line. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int rmem__parse_size(const char *s, uint64_t *out)
{
    unsigned long long v;
    unsigned shift = 0;
    char *end;

    if (!s || !isdigit((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno)
        return -ERANGE;
    switch (tolower((unsigned char)*end)) {
    case '\0': break;
    case 'k': shift = 10; end++; break;
    case 'm': shift = 20; end++; break;
    case 'g': shift = 30; end++; break;
    case 't': shift = 40; end++; break;
    default: return -EINVAL;
    }
    if (shift && (strcasecmp(end, "ib") == 0 || strcasecmp(end, "b") == 0))
        end += strlen(end);
    if (*end)
        return -EINVAL;
    if (shift && v > (UINT64_MAX >> shift))
        return -ERANGE;
    *out = (uint64_t)v << shift;
    return 0;
}

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);

    return v && *v ? v : dflt;
}

void rmem_options_init(rmem_options *o)
{
    const char *limit = getenv("RMEM_LOCAL_LIMIT");
    const char *spin = getenv("RMEM_BUSY_POLL");
    uint64_t v;

    memset(o, 0, sizeof(*o));
    o->server = env_or("RMEM_SERVER", "127.0.0.1:7070");
    o->tenant = env_or("RMEM_TENANT", "default");
    o->token = env_or("RMEM_TOKEN", NULL);
    o->tls_ca = env_or("RMEM_TLS_CA", NULL);
    o->tls_cert = env_or("RMEM_TLS_CERT", NULL);
    o->tls_key = env_or("RMEM_TLS_KEY", NULL);
    o->fault_threads = 1;
    o->prefetch_max = 64;
    o->busy_poll = 50;
    if (limit && rmem__parse_size(limit, &v) == 0)
        o->local_limit = (size_t)v;
    if (spin && isdigit((unsigned char)*spin)) {
        char *end;
        unsigned long us = strtoul(spin, &end, 10);

        if (!*end && us <= 1000000)
            o->busy_poll = (unsigned)us;
    }
}
