/* Configuration: ONE option table {name, type, default, min, max, doc}
 * serves the config file (-c FILE, "key value" lines, # comments), the long
 * flags (--key VALUE or --key=VALUE) and --help.  Defaults are parsed from
 * the table's own strings, so a default is written down exactly once.
 * Flags override the file whatever their order on the command line.  Any
 * unknown key or bad value is reported with its source and fails. */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum opt_type { OPT_ADDR, OPT_SIZE, OPT_UINT, OPT_STRING, OPT_LOGLEVEL, OPT_NUMA,
                OPT_SWAP, OPT_BOOL };
enum opt_when { AT_START, ON_SIGHUP };

struct config_option {
    const char *name;
    enum opt_type type;
    size_t offset;                      /* into struct config */
    const char *def;                    /* NULL: unset */
    uint64_t min, max;                  /* OPT_SIZE, OPT_UINT */
    const char *doc;
    enum opt_when when;                 /* when a new value takes effect */
};

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define TiB (1ull << 40)

static const struct config_option options[] = {
    {"listen", OPT_ADDR, offsetof(struct config, listen), "127.0.0.1:7070", 0, 0,
     "HOST:PORT to accept clients on (IPv4, [IPv6] or localhost); port 0 picks "
     "a free port.  A non-loopback address needs every credential set.",
     AT_START},
    {"pool", OPT_SIZE, offsetof(struct config, pool_bytes), "1G", 4 * MiB, 64 * TiB,
     "SIZE of the memory pool shared by all tenants (K/M/G/T suffixes).", AT_START},
    {"log-level", OPT_LOGLEVEL, offsetof(struct config, log_level), "info", 0, 0,
     "error | warn | info | debug", ON_SIGHUP},
    {"admin-token", OPT_STRING, offsetof(struct config, admin_token), NULL, 0, 0,
     "secret of the admin role (rmemctl); unset: admin only from loopback.",
     ON_SIGHUP},
    {"default-token", OPT_STRING, offsetof(struct config, default_token), NULL, 0, 0,
     "secret of the built-in tenant \"default\"; unset: loopback clients only.",
     ON_SIGHUP},
    {"numa-policy", OPT_NUMA, offsetof(struct config, numa), "interleave", 0, 0,
     "interleave | local | bind:N,... : NUMA nodes the pool is placed on.", AT_START},
    {"swap", OPT_SWAP, offsetof(struct config, swap), NULL, 0, 0,
     "FILE:SIZE of a swap file the pool pages out to when it runs low; "
     "created (or truncated) at start, removed at exit if rmemd created it.",
     AT_START},
    {"session-grace", OPT_UINT, offsetof(struct config, session_grace_s), "10", 0, 86400,
     "seconds an orphaned session's anonymous segments survive its last "
     "connection, for the client to reconnect; 0 frees them at once.", ON_SIGHUP},
    {"busy-poll", OPT_UINT, offsetof(struct config, busy_poll_us), "50", 0, 1000000,
     "microseconds the event loop keeps polling, without sleeping, after it "
     "read from a client, so that the next request of a burst finds it "
     "awake (as net.core.busy_poll); 0: sleep at once.  Never spins when "
     "rmemd may only run on one CPU.", ON_SIGHUP},
    /* zswap (mm/zswap.c) */
    {"zswap", OPT_BOOL, offsetof(struct config, zswap), "on", 0, 0,
     "on | off: with --swap, keep pages that reclaim swaps out compressed "
     "(lz4) in pool memory, writing only what does not compress, or what "
     "overflows the cache, to the swap file.", AT_START},
    {"zswap-max-pool-percent", OPT_UINT,
     offsetof(struct config, zswap_max_pool_percent), "20", 0, 100,
     "percent of the pool zswap's compressed pages may take; beyond it the "
     "oldest are written back to the swap file.", AT_START},
    /* KSM (mm/ksm.c, server/ksm.c) */
    {"ksm", OPT_BOOL, offsetof(struct config, ksm), "off", 0, 0,
     "on | off: merge identical pages within each tenant in segments that "
     "asked for it (MADV_MERGEABLE), as /sys/kernel/mm/ksm/run 1 | 0; "
     "rmemctl ksm on|off switches it while running.", ON_SIGHUP},
    {"ksm-pages-to-scan", OPT_UINT, offsetof(struct config, ksm_pages_to_scan),
     "100", 1, 1000000,
     "pages KSM looks at per step (/sys/kernel/mm/ksm/pages_to_scan).",
     ON_SIGHUP},
    {"ksm-sleep-ms", OPT_UINT, offsetof(struct config, ksm_sleep_ms), "20", 1,
     3600000, "milliseconds between KSM steps "
     "(/sys/kernel/mm/ksm/sleep_millisecs).", ON_SIGHUP},
    /* asynchronous swap-in (server/swapin.c) */
    {"swap-read-delay", OPT_UINT, offsetof(struct config, swap_read_delay_ms),
     "0", 0, 10000,
     "testing: milliseconds every read of the swap file takes longer, as "
     "on a slow device (synchronous reads too); 0 (the default) for none.",
     AT_START},
    /* swap-out off the loop (server/swap.c) */
    {"swap-write-delay", OPT_UINT, offsetof(struct config, swap_write_delay_ms),
     "0", 0, 10000,
     "testing: milliseconds every write to the swap file takes longer, as "
     "on a slow device (synchronous writes too); 0 (the default) for none.",
     AT_START},
    /* TLS (server/tls.c) */
    {"tls-cert", OPT_STRING, offsetof(struct config, tls_cert), NULL, 0, 0,
     "FILE: PEM certificate (chain) of the server; with tls-key the listener "
     "speaks TLS 1.2 or later only.  Unset: plain TCP.", AT_START},
    {"tls-key", OPT_STRING, offsetof(struct config, tls_key), NULL, 0, 0,
     "FILE: PEM private key of tls-cert.", AT_START},
    {"tls-ca", OPT_STRING, offsetof(struct config, tls_ca), NULL, 0, 0,
     "FILE: PEM CA certificate(s); with it every client must present a "
     "certificate this CA signed (mutual TLS).", AT_START},
};

#define NR_OPTIONS (sizeof(options) / sizeof(options[0]))

static const struct config_option *option_find(const char *name, size_t len)
{
    for (size_t i = 0; i < NR_OPTIONS; i++)
        if (strlen(options[i].name) == len && strncmp(options[i].name, name, len) == 0)
            return &options[i];
    return NULL;
}

static int parse_u64(const char *s, uint64_t *out, const char **end)
{
    char *e;
    unsigned long long v;

    if (!isdigit((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    v = strtoull(s, &e, 10);
    if (errno)
        return -ERANGE;
    *out = v;
    *end = e;
    return 0;
}

static int parse_size(const char *s, uint64_t *out)
{
    uint64_t v, mult = 1;
    const char *e;

    if (parse_u64(s, &v, &e))
        return -EINVAL;
    switch (toupper((unsigned char)*e)) {
    case 'K': mult = KiB; e++; break;
    case 'M': mult = MiB; e++; break;
    case 'G': mult = GiB; e++; break;
    case 'T': mult = TiB; e++; break;
    default: break;
    }
    if (mult > 1 && toupper((unsigned char)*e) == 'B')
        e++;
    if (*e)
        return -EINVAL;
    if (v > UINT64_MAX / mult)
        return -ERANGE;
    *out = v * mult;
    return 0;
}

static int parse_addr(const char *s, struct config_addr *a)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    const char *e;
    uint64_t port;
    size_t hl;

    if (!colon || strlen(s) >= sizeof(a->text))
        return -EINVAL;
    if (parse_u64(colon + 1, &port, &e) || *e || port > 65535)
        return -EINVAL;
    hl = (size_t)(colon - s);
    if (hl == 0 || hl >= sizeof(host))
        return -EINVAL;
    memcpy(host, s, hl);
    host[hl] = '\0';
    memset(&a->ss, 0, sizeof(a->ss));
    if (host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        if (uv_ip6_addr(host + 1, (int)port, (struct sockaddr_in6 *)&a->ss))
            return -EINVAL;
    } else {
        if (strcmp(host, "localhost") == 0)
            strcpy(host, "127.0.0.1");
        if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&a->ss))
            return -EINVAL;
    }
    strcpy(a->text, s);
    return 0;
}

static int parse_numa(const char *s, struct config_numa *n)
{
    uint64_t node, mask = 0;
    const char *p, *e;

    if (strcmp(s, "interleave") == 0) {
        n->policy = MM_NUMA_INTERLEAVE;
        n->bind_mask = 0;
        return 0;
    }
    if (strcmp(s, "local") == 0) {
        n->policy = MM_NUMA_LOCAL;
        n->bind_mask = 0;
        return 0;
    }
    if (strncmp(s, "bind:", 5) != 0)
        return -EINVAL;
    for (p = s + 5;; p = e + 1) {
        if (parse_u64(p, &node, &e) || node >= 64)
            return -EINVAL;
        mask |= 1ull << node;
        if (*e == '\0')
            break;
        if (*e != ',')
            return -EINVAL;
    }
    n->policy = MM_NUMA_BIND;
    n->bind_mask = mask;
    return 0;
}

/* FILE:SIZE; the last colon splits, so FILE may contain colons. */
static int parse_swap(const char *s, struct config_swap *sw)
{
    const char *colon = strrchr(s, ':');
    uint64_t bytes;
    char *path;

    if (!colon || colon == s || parse_size(colon + 1, &bytes))
        return -EINVAL;
    if (bytes < RMEM_PAGE_SIZE)
        return -EINVAL;
    path = strndup(s, (size_t)(colon - s));
    if (!path)
        return -ENOMEM;
    free(sw->path);
    sw->path = path;
    sw->bytes = bytes;
    return 0;
}

/* on/off, as the config file and the flags say it; yes/no, true/false
 * and 1/0 too, as Linux's module parameters take them. */
static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"on", "yes", "true", "1"};
    static const char *const no[] = {"off", "no", "false", "0"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -EINVAL;
}

static const char *type_hint(const struct config_option *o)
{
    switch (o->type) {
    case OPT_ADDR:     return "HOST:PORT";
    case OPT_SIZE:     return "a size with optional K/M/G/T suffix";
    case OPT_UINT:     return "a whole number";
    case OPT_STRING:   return "a string";
    case OPT_LOGLEVEL: return "error, warn, info or debug";
    case OPT_NUMA:     return "interleave, local or bind:N,...";
    case OPT_SWAP:     return "FILE:SIZE, SIZE at least 4K";
    case OPT_BOOL:     return "on or off";
    }
    return "?";
}

static int option_apply(struct config *cfg, const struct config_option *o,
                        const char *value, const char *source)
{
    void *field = (char *)cfg + o->offset;
    uint64_t v = 0;
    int err = 0;

    switch (o->type) {
    case OPT_ADDR:
        err = parse_addr(value, field);
        break;
    case OPT_SIZE:
    case OPT_UINT:
        if (o->type == OPT_SIZE) {
            err = parse_size(value, &v);
        } else {
            const char *e;

            err = parse_u64(value, &v, &e);
            if (!err && *e)
                err = -EINVAL;
        }
        if (!err && (v < o->min || v > o->max)) {
            log_error("%s: %s: '%s' is out of range %llu..%llu", source, o->name,
                      value, (unsigned long long)o->min, (unsigned long long)o->max);
            return -EINVAL;
        }
        if (!err)
            *(uint64_t *)field = v;
        break;
    case OPT_STRING: {
        char *dup = strdup(value);

        if (!dup) {
            log_error("%s: %s: out of memory", source, o->name);
            return -ENOMEM;
        }
        free(*(char **)field);
        *(char **)field = dup;
        break;
    }
    case OPT_LOGLEVEL:
        err = -EINVAL;
        for (int l = LL_ERROR; l <= LL_DEBUG; l++) {
            if (strcmp(value, log_level_name((enum log_level)l)) == 0) {
                *(enum log_level *)field = (enum log_level)l;
                err = 0;
            }
        }
        break;
    case OPT_NUMA:
        err = parse_numa(value, field);
        break;
    case OPT_SWAP:
        err = parse_swap(value, field);
        break;
    case OPT_BOOL:
        err = parse_bool(value, field);
        break;
    }
    if (err) {
        log_error("%s: %s: bad value '%s' (expected %s)", source, o->name, value,
                  type_hint(o));
        return -EINVAL;
    }
    return 0;
}

int config_init(struct config *cfg)
{
    int err;

    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < NR_OPTIONS; i++) {
        if (!options[i].def)
            continue;
        err = option_apply(cfg, &options[i], options[i].def, "default");
        if (err)
            return err;
    }
    return 0;
}

void config_free(struct config *cfg)
{
    for (size_t i = 0; i < NR_OPTIONS; i++) {
        if (options[i].type == OPT_STRING) {
            char **p = (char **)((char *)cfg + options[i].offset);

            free(*p);
            *p = NULL;
        }
        if (options[i].type == OPT_SWAP) {
            struct config_swap *sw = (void *)((char *)cfg + options[i].offset);

            free(sw->path);
            sw->path = NULL;
        }
    }
}

int config_set(struct config *cfg, const char *name, const char *value,
               const char *source)
{
    const struct config_option *o = option_find(name, strlen(name));

    if (!o) {
        log_error("%s: unknown option '%s' (rmemd --help lists them)", source, name);
        return -EINVAL;
    }
    return option_apply(cfg, o, value, source);
}

static char *trim(char *s)
{
    char *e;

    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

int config_load_file(struct config *cfg, const char *path)
{
    char line[1024], source[512];
    unsigned lineno = 0;
    int err = 0;
    FILE *f = fopen(path, "r");

    if (!f) {
        log_error("cannot open config file %s: %s", path, strerror(errno));
        return -EINVAL;
    }
    while (fgets(line, sizeof(line), f)) {
        char *key, *value, *p;

        lineno++;
        snprintf(source, sizeof(source), "%s:%u", path, lineno);
        if (!strchr(line, '\n') && !feof(f)) {
            log_error("%s: line too long", source);
            err = -EINVAL;
            break;
        }
        key = trim(line);
        if (*key == '\0' || *key == '#')
            continue;
        for (p = key; *p && !isspace((unsigned char)*p); p++)
            ;
        value = p;
        if (*p)
            *value++ = '\0';
        value = trim(value);
        if (*value == '\0') {
            log_error("%s: %s: missing value", source, key);
            err = -EINVAL;
            break;
        }
        /* "quoted value" keeps inner spaces. */
        p = value + strlen(value) - 1;
        if (p > value && *value == '"' && *p == '"') {
            *p = '\0';
            value++;
        }
        err = config_set(cfg, key, value, source);
        if (err)
            break;
    }
    if (!err && ferror(f)) {
        log_error("reading %s: %s", path, strerror(errno));
        err = -EINVAL;
    }
    fclose(f);
    return err;
}

int config_parse_args(struct config *cfg, int argc, char **argv)
{
    int err;

    cfg->argc = argc;                   /* for config_reload */
    cfg->argv = argv;
    /* Pass 1: help, version and the config file (skipping flag values). */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            config_print_help(stdout);
            return CONFIG_EXIT;
        }
        if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--version") == 0) {
            printf("rmemd %s (protocol %u)\n", RMEMD_VERSION, RMEM_PROTO_VERSION);
            return CONFIG_EXIT;
        }
        if (strcmp(argv[i], "-c") == 0 || (strncmp(argv[i], "--", 2) == 0 &&
                                           !strchr(argv[i], '=')))
            i++;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0) {
            if (i + 1 >= argc) {
                log_error("-c needs a FILE");
                return -EINVAL;
            }
            err = config_load_file(cfg, argv[++i]);
            if (err)
                return err;
        } else if (strncmp(argv[i], "--", 2) == 0 && !strchr(argv[i], '=')) {
            i++;                        /* skip the flag's value */
        }
    }
    /* Pass 2: long flags override the file. */
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *eq, *value;
        const struct config_option *o;
        char source[80];

        if (strcmp(arg, "-c") == 0) {
            i++;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            log_error("unexpected argument '%s' (rmemd --help lists the options)", arg);
            return -EINVAL;
        }
        eq = strchr(arg + 2, '=');
        o = option_find(arg + 2, eq ? (size_t)(eq - arg - 2) : strlen(arg + 2));
        if (!o) {
            log_error("unknown option '%s' (rmemd --help lists them)", arg);
            return -EINVAL;
        }
        if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            log_error("--%s needs a value (%s)", o->name, type_hint(o));
            return -EINVAL;
        }
        snprintf(source, sizeof(source), "command line");
        err = option_apply(cfg, o, value, source);
        if (err)
            return err;
    }
    return 0;
}

bool config_addr_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        const uint8_t *b = in6->sin6_addr.s6_addr;
        static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
            return true;
        return memcmp(b, v4mapped, 12) == 0 && b[12] == 127;
    }
    return false;
}

int config_check(const struct config *cfg)
{
    const char *missing = NULL;

    if (!cfg->tls_cert != !cfg->tls_key) {
        log_error("TLS needs both tls-cert and tls-key; only %s is set",
                  cfg->tls_cert ? "tls-cert" : "tls-key");
        return -EINVAL;
    }
    if (cfg->tls_ca && !cfg->tls_cert) {
        log_error("tls-ca (client certificates) needs tls-cert and tls-key");
        return -EINVAL;
    }
    if (config_addr_is_loopback((const struct sockaddr *)&cfg->listen.ss))
        return 0;
    if (!cfg->default_token)
        missing = "the default tenant has no token (default-token)";
    else if (!cfg->admin_token)
        missing = "the admin role has no token (admin-token)";
    if (missing) {
        log_error("protected mode: refusing to listen on %s, beyond loopback, "
                  "because %s; set it, or listen on 127.0.0.1", cfg->listen.text,
                  missing);
        return -EPERM;
    }
    return 0;
}

/* ---- reload (SIGHUP) ---------------------------------------------------- */

static bool option_equal(const struct config_option *o, const struct config *a,
                         const struct config *b)
{
    const void *x = (const char *)a + o->offset, *y = (const char *)b + o->offset;

    switch (o->type) {
    case OPT_ADDR:
        return strcmp(((const struct config_addr *)x)->text,
                      ((const struct config_addr *)y)->text) == 0;
    case OPT_SIZE:
    case OPT_UINT:
        return *(const uint64_t *)x == *(const uint64_t *)y;
    case OPT_STRING: {
        const char *s = *(char *const *)x, *t = *(char *const *)y;

        return s == t || (s && t && strcmp(s, t) == 0);
    }
    case OPT_LOGLEVEL:
        return *(const enum log_level *)x == *(const enum log_level *)y;
    case OPT_BOOL:
        return *(const bool *)x == *(const bool *)y;
    case OPT_NUMA: {
        const struct config_numa *m = x, *n = y;

        return m->policy == n->policy && m->bind_mask == n->bind_mask;
    }
    case OPT_SWAP: {
        const struct config_swap *m = x, *n = y;

        return m->bytes == n->bytes && (m->path == n->path ||
               (m->path && n->path && strcmp(m->path, n->path) == 0));
    }
    }
    return false;
}

/* A value for the log; strings are secrets, so only whether one is set. */
static const char *option_format(const struct config_option *o,
                                 const struct config *cfg, char *buf, size_t len)
{
    const void *field = (const char *)cfg + o->offset;

    switch (o->type) {
    case OPT_SIZE:
    case OPT_UINT:
        snprintf(buf, len, "%llu", (unsigned long long)*(const uint64_t *)field);
        return buf;
    case OPT_LOGLEVEL:
        return log_level_name(*(const enum log_level *)field);
    case OPT_BOOL:
        return *(const bool *)field ? "on" : "off";
    case OPT_STRING:
        return *(char *const *)field ? "(set)" : "(unset)";
    case OPT_ADDR:
        return ((const struct config_addr *)field)->text;
    default:
        return "(as given)";
    }
}

/* Move a reloadable value from next into cur; next keeps cur's old one
 * and frees it with config_free. */
static void option_take(const struct config_option *o, struct config *cur,
                        struct config *next)
{
    char *x = (char *)cur + o->offset, *y = (char *)next + o->offset;
    size_t size = o->type == OPT_STRING ? sizeof(char *) :
                  o->type == OPT_LOGLEVEL ? sizeof(enum log_level) :
                  o->type == OPT_BOOL ? sizeof(bool) : sizeof(uint64_t);
    char tmp[sizeof(uint64_t) > sizeof(char *) ? sizeof(uint64_t) : sizeof(char *)];

    memcpy(tmp, x, size);
    memcpy(x, y, size);
    memcpy(y, tmp, size);
}

int config_reload(struct config *cur, unsigned *nr_changed)
{
    struct config next;
    char was[32], now[32];
    int err;

    *nr_changed = 0;
    err = config_init(&next);
    if (!err)
        err = config_parse_args(&next, cur->argc, cur->argv);
    if (!err)
        err = config_check(&next);
    if (err) {
        config_free(&next);
        log_error("reload: the configuration has errors (above); keeping the "
                  "running one");
        return -EINVAL;
    }
    for (size_t i = 0; i < NR_OPTIONS; i++) {
        const struct config_option *o = &options[i];

        if (option_equal(o, cur, &next))
            continue;
        if (o->when != ON_SIGHUP) {
            log_warn("reload: %s changed, but only a restart applies it; still "
                     "%s", o->name, option_format(o, cur, was, sizeof(was)));
            continue;
        }
        log_info("reload: %s %s -> %s", o->name,
                 option_format(o, cur, was, sizeof(was)),
                 option_format(o, &next, now, sizeof(now)));
        option_take(o, cur, &next);
        (*nr_changed)++;
    }
    config_free(&next);
    return 0;
}

void config_print_help(FILE *f)
{
    fprintf(f, "usage: rmemd [-c FILE] [--OPTION VALUE ...]\n\n"
               "Every option can be given as --OPTION VALUE, --OPTION=VALUE or as a\n"
               "\"OPTION VALUE\" line in the config file; flags override the file.\n\n");
    for (size_t i = 0; i < NR_OPTIONS; i++)
        fprintf(f, "  --%-14s %s\n  %-16s   default: %s%s\n", options[i].name,
                options[i].doc, "", options[i].def ? options[i].def : "(unset)",
                options[i].when == ON_SIGHUP ? "  (SIGHUP reloads it)" : "");
    fprintf(f, "\n  -c FILE           read options from FILE first\n"
               "  -h, --help        this text\n  -v, --version     version\n");
}
