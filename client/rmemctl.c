/* rmemctl: the operator's view of an rmemd server.
 *
 *   rmemctl [-s HOST:PORT] [--token T] [--tenant T] [--json]
 *           [--tls-ca FILE] [--tls-cert FILE --tls-key FILE] COMMAND [ARGS]
 *
 * Each command is one row of the command table below: its name, a handler
 * that makes the RPCs it needs over one blocking connection (client/conn.c,
 * the same code librmem uses) and a line of help.  Output follows the Linux
 * file of the same name where there is one (/proc/buddyinfo), otherwise
 * Redis INFO style `key: value` lines with the unit in the key; --json
 * prints the same figures as one JSON value.
 *
 * Exit status: 0 success, 1 the server or the connection failed (the reason
 * on stderr), 2 a usage error. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define EXIT_USAGE 2

struct ctl {
    const char *server;
    const char *tenant;
    const char *token;
    const char *admin_token;       /* --admin-token / $RMEM_ADMIN_TOKEN */
    const char *tls_ca, *tls_cert, *tls_key;   /* all NULL: plain TCP */
    struct ssl_ctx_st *tls;        /* client/tls.c, made at connect */
    bool json;
    bool connected;
    struct rmem__conn cn;
};

struct command {
    const char *name;
    int (*run)(struct ctl *ctl, int argc, char **argv);
    const char *args;              /* synopsis of ARGS, "" for none */
    const char *help;
};

static int cmd_info(struct ctl *ctl, int argc, char **argv);
static int cmd_buddyinfo(struct ctl *ctl, int argc, char **argv);
static int cmd_tenant(struct ctl *ctl, int argc, char **argv);
static int cmd_cgroup(struct ctl *ctl, int argc, char **argv);
static int cmd_segment(struct ctl *ctl, int argc, char **argv);
static int cmd_slabinfo(struct ctl *ctl, int argc, char **argv);
static int cmd_meminfo(struct ctl *ctl, int argc, char **argv);
static int cmd_zoneinfo(struct ctl *ctl, int argc, char **argv);
static int cmd_numastat(struct ctl *ctl, int argc, char **argv);
static int cmd_swapinfo(struct ctl *ctl, int argc, char **argv);
static int cmd_zswapinfo(struct ctl *ctl, int argc, char **argv);
static int cmd_reload(struct ctl *ctl, int argc, char **argv);
static int cmd_shutdown(struct ctl *ctl, int argc, char **argv);
static int cmd_ksm(struct ctl *ctl, int argc, char **argv);

static const struct command commands[] = {
    {"info", cmd_info, "",
     "server, pool, connection and traffic figures"},
    {"buddyinfo", cmd_buddyinfo, "",
     "free blocks of each order per zone, as /proc/buddyinfo"},
    /* the admin role: tenants, their memory cgroups, segments */
    {"tenant", cmd_tenant, "list|create NAME [--token T]|delete NAME",
     "list, create or delete tenants"},
    {"cgroup", cmd_cgroup, "get TENANT [KEY]|set TENANT KEY VALUE",
     "read or write a tenant's memory.* cgroup v1 files"},
    {"segment", cmd_segment, "list [TENANT]|unlink TENANT NAME",
     "segments per tenant: pages, resident, reserved, swapped, shared, OOM-killed, "
     "named or anonymous; unlink a named one"},
    {"slabinfo", cmd_slabinfo, "",
     "the server's slab caches, as /proc/slabinfo 2.1"},
    {"meminfo", cmd_meminfo, "",
     "the pool by use, as /proc/meminfo"},
    {"zoneinfo", cmd_zoneinfo, "",
     "per zone pages, watermarks and counters, as /proc/zoneinfo"},
    {"numastat", cmd_numastat, "",
     "allocations per NUMA node, as numastat(8)"},
    {"swapinfo", cmd_swapinfo, "",
     "swap files as /proc/swaps (KiB); --json adds the reclaim and zswap "
     "counters"},
    {"zswapinfo", cmd_zswapinfo, "",
     "zswap's counters as /sys/kernel/debug/zswap, its parameters and events"},
    {"reload", cmd_reload, "",
     "reread rmemd's configuration, as SIGHUP does"},
    {"shutdown", cmd_shutdown, "",
     "stop rmemd cleanly, as SIGTERM does"},
    /* KSM (admin role) */
    {"ksm", cmd_ksm, "on|off|unmerge|stat",
     "same-page merging: run 1, 0 or 2 as /sys/kernel/mm/ksm/run; stat "
     "prints its files as name value lines"},
};

#define NR_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
    fprintf(f,
        "usage: rmemctl [-s HOST:PORT] [--token T] [--tenant T] [--json]\n"
        "               [--tls-ca FILE] [--tls-cert FILE --tls-key FILE] COMMAND\n"
        "\n"
        "  -s, --server HOST:PORT  rmemd to ask (default $RMEM_SERVER or 127.0.0.1:7070)\n"
        "      --tenant T          tenant to connect as (default $RMEM_TENANT or default)\n"
        "      --token T           its token (default $RMEM_TOKEN)\n"
        "      --admin-token T     admin role's token, for tenant/cgroup/segment\n"
        "                          (default $RMEM_ADMIN_TOKEN, else --token)\n"
        "      --json              print JSON instead of text\n"
        "      --tls-ca FILE       TLS: verify the server against this CA\n"
        "                          (default $RMEM_TLS_CA)\n"
        "      --tls-cert FILE     TLS: client certificate, for mutual TLS\n"
        "                          (default $RMEM_TLS_CERT)\n"
        "      --tls-key FILE      its key (default $RMEM_TLS_KEY)\n"
        "  -h, --help              this help\n"
        "  -V, --version           print the version\n"
        "\n"
        "commands:\n");
    for (size_t i = 0; i < NR_COMMANDS; i++) {
        char syn[64];

        snprintf(syn, sizeof(syn), "%s%s%s", commands[i].name,
                 commands[i].args[0] ? " " : "", commands[i].args);
        fprintf(f, "  %-22s  %s\n", syn, commands[i].help);
    }
}

/* ---- connection ------------------------------------------------------ */

static int ctl_connect(struct ctl *ctl)
{
    int err;

    if (ctl->connected)
        return 0;
    if (!ctl->tls) {
        err = rmem__tls_ctx_new(ctl->tls_ca, ctl->tls_cert, ctl->tls_key, &ctl->tls);
        if (err)
            return err;         /* tls.c said why */
    }
    err = rmem__conn_open(&ctl->cn, &(struct rmem__conn_target){
        ctl->server, ctl->tenant, ctl->token, "rmemctl", 0, ctl->tls});
    if (err) {
        if (err == -EINVAL)
            fprintf(stderr, "rmemctl: '%s': not a HOST:PORT address\n", ctl->server);
        else if (err == -EACCES)
            fprintf(stderr, "rmemctl: %s: %s (tenant '%s', its token or the "
                    "TLS client certificate refused; check --tenant, --token "
                    "and --tls-cert)\n", ctl->server, strerror(-err),
                    ctl->tenant);
        else
            fprintf(stderr, "rmemctl: %s: %s\n", ctl->server, strerror(-err));
        return err;
    }
    ctl->connected = true;
    return 0;
}

/* One round trip of the request whose body the caller set; the reply must
 * carry body `want`.  On failure the reason is printed and -errno returned.
 * *resp is valid until the next call. */
static int ctl_rpc(struct ctl *ctl, const char *what, Rmem__Request *req,
                   Rmem__Response__BodyCase want, Rmem__Response **resp)
{
    int err = ctl_connect(ctl);

    if (err)
        return err;
    err = rmem__conn_call(&ctl->cn, req, NULL, 0, resp, NULL, 0, NULL);
    if (err) {
        fprintf(stderr, "rmemctl: %s: %s: %s\n", what, ctl->server, strerror(-err));
        return err;
    }
    if ((*resp)->status) {
        const char *msg = (*resp)->message;

        fprintf(stderr, "rmemctl: %s: %s%s%s\n", what, strerror((*resp)->status),
                msg && *msg ? ": " : "", msg ? msg : "");
        return -(*resp)->status;
    }
    if ((*resp)->body_case != want) {
        fprintf(stderr, "rmemctl: %s: %s: unexpected reply from the server\n",
                what, ctl->server);
        return -EPROTO;
    }
    return 0;
}

/* anon_huge: have the server count its huge pages too (meminfo only). */
static int ctl_info(struct ctl *ctl, const char *what, bool anon_huge,
                    Rmem__InfoReply **out)
{
    Rmem__Info info = RMEM__INFO__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;
    int err;

    info.anon_huge = anon_huge;
    req.body_case = RMEM__REQUEST__BODY_INFO;
    req.info = &info;
    err = ctl_rpc(ctl, what, &req, RMEM__RESPONSE__BODY_INFO, &resp);
    if (err)
        return err;
    *out = resp->info;
    return 0;
}

/* ---- output helpers -------------------------------------------------- */

static void json_string(const char *s)
{
    putchar('"');
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

/* ---- info ------------------------------------------------------------ */

enum field_kind { F_STR, F_U32, F_U64, F_ZONES };

/* Every InfoReply figure in print order.  Keys carry their unit; a key
 * once shipped stays (a figure the server stops sending prints 0). */
static const struct info_field {
    const char *section;           /* starts a "# Section" when non-NULL */
    const char *key;
    enum field_kind kind;
    size_t off;
} info_fields[] = {
#define F(sec, key, kind, member) {sec, key, kind, offsetof(Rmem__InfoReply, member)}
    F("Server", "version", F_STR, version),
    F(NULL, "uptime_seconds", F_U64, uptime_s),
    F(NULL, "page_size_bytes", F_U32, page_size),
    F(NULL, "numa_nodes", F_U32, numa_nodes),
    F(NULL, "zones", F_ZONES, n_zones),
    F("Memory", "pool_bytes", F_U64, pool_bytes),
    F(NULL, "free_bytes", F_U64, free_bytes),
    F(NULL, "used_bytes", F_U64, used_bytes),
    F(NULL, "table_bytes", F_U64, table_bytes),
    F(NULL, "kvmalloc_heap_bytes", F_U64, kvmalloc_heap_bytes),
    F("Clients", "tenants", F_U64, tenants),
    F(NULL, "segments", F_U64, segments),
    F(NULL, "connections", F_U64, connections),
    F(NULL, "total_connections", F_U64, total_connections),
    F("Stats", "requests", F_U64, requests),
    F(NULL, "pages_read", F_U64, pages_read),
    F(NULL, "pages_written", F_U64, pages_written),
    F(NULL, "bytes_in", F_U64, bytes_in),
    F(NULL, "bytes_out", F_U64, bytes_out),
    F(NULL, "bad_frames", F_U64, bad_frames),
    F("Swap", "swap_total_bytes", F_U64, swap_total_bytes),
    F(NULL, "swap_used_bytes", F_U64, swap_used_bytes),
    F(NULL, "swap_cached_bytes", F_U64, swap_cached_bytes),
    F(NULL, "pswpin", F_U64, pswpin),
    F(NULL, "pswpout", F_U64, pswpout),
    F(NULL, "zswap_bytes", F_U64, zswap_bytes),
    F(NULL, "zswapped_bytes", F_U64, zswapped_bytes),
#undef F
};

#define NR_INFO_FIELDS (sizeof(info_fields) / sizeof(info_fields[0]))

static void info_value(const Rmem__InfoReply *ir, const struct info_field *f,
                       bool json)
{
    const char *base = (const char *)ir + f->off;

    switch (f->kind) {
    case F_STR: {
        const char *s = *(char *const *)(const void *)base;

        if (json)
            json_string(s);
        else
            fputs(s ? s : "", stdout);
        break;
    }
    case F_U32:
        printf("%" PRIu32, *(const uint32_t *)(const void *)base);
        break;
    case F_U64:
        printf("%" PRIu64, *(const uint64_t *)(const void *)base);
        break;
    case F_ZONES:
        printf("%zu", *(const size_t *)(const void *)base);
        break;
    }
}

static int cmd_info(struct ctl *ctl, int argc, char **argv)
{
    Rmem__InfoReply *ir;
    int err;

    (void)argv;
    if (argc > 0) {
        fprintf(stderr, "rmemctl: info takes no arguments\n");
        return EXIT_USAGE;
    }
    err = ctl_info(ctl, "info", false, &ir);
    if (err)
        return EXIT_FAILURE;
    if (ctl->json) {
        putchar('{');
        for (size_t i = 0; i < NR_INFO_FIELDS; i++) {
            printf("%s\"%s\": ", i ? ", " : "", info_fields[i].key);
            info_value(ir, &info_fields[i], true);
        }
        printf("}\n");
        return EXIT_SUCCESS;
    }
    for (size_t i = 0; i < NR_INFO_FIELDS; i++) {
        if (info_fields[i].section)
            printf("%s# %s\n", i ? "\n" : "", info_fields[i].section);
        printf("%s: ", info_fields[i].key);
        info_value(ir, &info_fields[i], false);
        putchar('\n');
    }
    return EXIT_SUCCESS;
}

/* ---- buddyinfo ------------------------------------------------------- */

/* Linux prints orders 0..10 (NR_PAGE_ORDERS = 11 on x86-64); a server
 * reporting fewer is padded with zeros, more are all printed. */
#define BUDDYINFO_MIN_ORDERS 11

static int cmd_buddyinfo(struct ctl *ctl, int argc, char **argv)
{
    Rmem__InfoReply *ir;
    int err;

    (void)argv;
    if (argc > 0) {
        fprintf(stderr, "rmemctl: buddyinfo takes no arguments\n");
        return EXIT_USAGE;
    }
    err = ctl_info(ctl, "buddyinfo", false, &ir);
    if (err)
        return EXIT_FAILURE;
    if (ctl->json)
        putchar('[');
    for (size_t z = 0; z < ir->n_zones; z++) {
        const Rmem__ZoneInfo *zi = ir->zones[z];
        size_t orders = zi->n_free_per_order > BUDDYINFO_MIN_ORDERS ?
                        zi->n_free_per_order : BUDDYINFO_MIN_ORDERS;

        if (ctl->json) {
            printf("%s{\"node\": %" PRIu32 ", \"zone\": ", z ? ", " : "", zi->node);
            json_string(zi->name);
            printf(", \"free_per_order\": [");
            for (size_t o = 0; o < orders; o++)
                printf("%s%" PRIu64, o ? ", " : "",
                       o < zi->n_free_per_order ? zi->free_per_order[o] : 0);
            printf("], \"managed_pages\": %" PRIu64 ", \"free_pages\": %" PRIu64
                   ", \"min_pages\": %" PRIu64 ", \"low_pages\": %" PRIu64
                   ", \"high_pages\": %" PRIu64 "}",
                   zi->managed_pages, zi->free_pages, zi->min_pages,
                   zi->low_pages, zi->high_pages);
            continue;
        }
        /* mm/vmstat.c frag_show_print(), byte for byte. */
        printf("Node %" PRIu32 ", zone %8s ", zi->node, zi->name ? zi->name : "");
        for (size_t o = 0; o < orders; o++)
            printf("%6" PRIu64 " ",
                   o < zi->n_free_per_order ? zi->free_per_order[o] : 0);
        putchar('\n');
    }
    if (ctl->json)
        printf("]\n");
    return EXIT_SUCCESS;
}

/* ---- slabinfo, meminfo, zoneinfo, numastat ---------------------------- */

static int no_args(const char *cmd, int argc)
{
    if (argc > 0) {
        fprintf(stderr, "rmemctl: %s takes no arguments\n", cmd);
        return EXIT_USAGE;
    }
    return 0;
}

static int cmd_slabinfo(struct ctl *ctl, int argc, char **argv)
{
    Rmem__SlabInfo si = RMEM__SLAB_INFO__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__SlabInfoReply *r;
    Rmem__Response *resp;

    (void)argv;
    if (no_args("slabinfo", argc))
        return EXIT_USAGE;
    req.body_case = RMEM__REQUEST__BODY_SLAB_INFO;
    req.slab_info = &si;
    if (ctl_rpc(ctl, "slabinfo", &req, RMEM__RESPONSE__BODY_SLAB_INFO, &resp))
        return EXIT_FAILURE;
    r = resp->slab_info;
    if (ctl->json)
        putchar('[');
    else
        printf("slabinfo - version: 2.1\n"
               "# name            <active_objs> <num_objs> <objsize> "
               "<objperslab> <pagesperslab> : tunables <limit> <batchcount> "
               "<sharedfactor> : slabdata <active_slabs> <num_slabs> "
               "<sharedavail>\n");
    /* Linux lists the newest cache first; the server sends oldest first. */
    for (size_t k = 0; k < r->n_caches; k++) {
        const Rmem__SlabCacheInfo *c = r->caches[r->n_caches - 1 - k];

        if (ctl->json) {
            printf("%s{\"name\": ", k ? ", " : "");
            json_string(c->name);
            printf(", \"active_objs\": %" PRIu64 ", \"num_objs\": %" PRIu64
                   ", \"objsize\": %" PRIu32 ", \"objperslab\": %" PRIu32
                   ", \"pagesperslab\": %" PRIu32 ", \"active_slabs\": %" PRIu64
                   ", \"num_slabs\": %" PRIu64 "}", c->active_objs, c->num_objs,
                   c->objsize, c->objperslab, c->pagesperslab, c->active_slabs,
                   c->num_slabs);
            continue;
        }
        /* mm/slab_common.c cache_show(); no per-CPU tunables here. */
        printf("%-17s %6" PRIu64 " %6" PRIu64 " %6" PRIu32 " %4" PRIu32 " %4" PRIu32
               " : tunables %4u %4u %4u : slabdata %6" PRIu64 " %6" PRIu64 " %6u\n",
               c->name ? c->name : "", c->active_objs, c->num_objs, c->objsize,
               c->objperslab, c->pagesperslab, 0u, 0u, 0u, c->active_slabs,
               c->num_slabs, 0u);
    }
    if (ctl->json)
        printf("]\n");
    return EXIT_SUCCESS;
}

/* The /proc/meminfo keys the server has figures for, in Linux's order.
 * SwapCached is the swap cache (mm/swap_state.c): pages swapped in that
 * still hold their slot, also counted in AnonPages or Shmem and on the
 * LRU lists, as Linux counts them; Buffers, Unevictable, Mlocked,
 * Dirty, Mapped and the kernel's own keys have nothing behind them.  Only
 * this command asks for AnonHugePages, which costs the server a read of
 * /proc/self/smaps. */
static int cmd_meminfo(struct ctl *ctl, int argc, char **argv)
{
    Rmem__InfoReply *ir;

    (void)argv;
    if (no_args("meminfo", argc))
        return EXIT_USAGE;
    if (ctl_info(ctl, "meminfo", true, &ir))
        return EXIT_FAILURE;
    const struct { const char *name; uint64_t bytes; } rows[] = {
        {"MemTotal", ir->pool_bytes},
        {"MemFree", ir->free_bytes},
        {"MemAvailable", ir->available_bytes},
        {"Cached", ir->shmem_bytes},
        {"SwapCached", ir->swap_cached_bytes},
        {"Active", ir->active_anon_bytes + ir->active_file_bytes},
        {"Inactive", ir->inactive_anon_bytes + ir->inactive_file_bytes},
        {"Active(anon)", ir->active_anon_bytes},
        {"Inactive(anon)", ir->inactive_anon_bytes},
        {"Active(file)", ir->active_file_bytes},
        {"Inactive(file)", ir->inactive_file_bytes},
        {"SwapTotal", ir->swap_total_bytes},
        {"SwapFree", ir->swap_total_bytes - ir->swap_used_bytes},
        {"Zswap", ir->zswap_bytes},
        {"Zswapped", ir->zswapped_bytes},
        {"Writeback", ir->writeback_bytes},
        {"AnonPages", ir->anon_bytes},
        {"Shmem", ir->shmem_bytes},
        {"KReclaimable", ir->slab_reclaimable_bytes},
        {"Slab", ir->slab_bytes},
        {"SReclaimable", ir->slab_reclaimable_bytes},
        {"SUnreclaim", ir->slab_bytes - ir->slab_reclaimable_bytes},
        {"PageTables", ir->table_bytes},
        {"VmallocUsed", ir->kvmalloc_bytes},
        {"AnonHugePages", ir->anon_huge_bytes},
    };

    if (ctl->json)
        putchar('{');
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char key[32];

        if (ctl->json) {
            printf("%s\"%s_kB\": %" PRIu64, i ? ", " : "", rows[i].name,
                   rows[i].bytes / 1024);
            continue;
        }
        /* fs/proc/meminfo.c show_val_kb(): name padded to 16, 8 wide. */
        snprintf(key, sizeof(key), "%s:", rows[i].name);
        printf("%-16s%8" PRIu64 " kB\n", key, rows[i].bytes / 1024);
    }
    if (ctl->json)
        printf("}\n");
    return EXIT_SUCCESS;
}

/* The MemZoneStat of zones[z], or an empty one from an older server. */
static const Rmem__MemZoneStat *zone_stat(const Rmem__InfoReply *ir, size_t z)
{
    static const Rmem__MemZoneStat none = RMEM__MEM_ZONE_STAT__INIT;

    return z < ir->n_zone_stats ? ir->zone_stats[z] : &none;
}

static bool first_zone_of_node(const Rmem__InfoReply *ir, size_t z)
{
    for (size_t i = 0; i < z; i++)
        if (ir->zones[i]->node == ir->zones[z]->node)
            return false;
    return true;
}

static void zoneinfo_json(const Rmem__ZoneInfo *zi, const Rmem__MemZoneStat *ms,
                          bool first)
{
    printf("%s{\"node\": %" PRIu32 ", \"zone\": ", first ? "" : ", ", zi->node);
    json_string(zi->name);
    printf(", \"nr_free_pages\": %" PRIu64 ", \"min\": %" PRIu64
           ", \"low\": %" PRIu64 ", \"high\": %" PRIu64 ", \"spanned\": %" PRIu64
           ", \"present\": %" PRIu64 ", \"managed\": %" PRIu64
           ", \"nr_anon_pages\": %" PRIu64 ", \"nr_page_table_pages\": %" PRIu64
           ", \"nr_slab_reclaimable\": %" PRIu64 ", \"nr_slab_unreclaimable\": %" PRIu64
           ", \"numa_hit\": %" PRIu64 ", \"numa_miss\": %" PRIu64
           ", \"numa_foreign\": %" PRIu64 ", \"numa_interleave\": %" PRIu64
           ", \"numa_local\": %" PRIu64 ", \"numa_other\": %" PRIu64
           ", \"start_pfn\": %" PRIu64 "}",
           zi->free_pages, zi->min_pages, zi->low_pages, zi->high_pages,
           zi->managed_pages, zi->managed_pages, zi->managed_pages,
           ms->data_pages, ms->table_pages, ms->slab_reclaimable_pages,
           ms->slab_pages - ms->slab_reclaimable_pages, ms->numa_hit,
           ms->numa_miss, ms->numa_foreign, ms->interleave_hit, ms->local_node,
           ms->other_node, ms->start_pfn);
}

/* mm/vmstat.c zoneinfo_show_print(), for the figures a pool has: one zone
 * per node, so the node's stats come with its zone; no pagesets. */
static int cmd_zoneinfo(struct ctl *ctl, int argc, char **argv)
{
    Rmem__InfoReply *ir;

    (void)argv;
    if (no_args("zoneinfo", argc))
        return EXIT_USAGE;
    if (ctl_info(ctl, "zoneinfo", false, &ir))
        return EXIT_FAILURE;
    if (ctl->json)
        putchar('[');
    for (size_t z = 0; z < ir->n_zones; z++) {
        const Rmem__ZoneInfo *zi = ir->zones[z];
        const Rmem__MemZoneStat *ms = zone_stat(ir, z);
        const struct { const char *name; uint64_t v; } numa[] = {
            {"numa_hit", ms->numa_hit}, {"numa_miss", ms->numa_miss},
            {"numa_foreign", ms->numa_foreign},
            {"numa_interleave", ms->interleave_hit},
            {"numa_local", ms->local_node}, {"numa_other", ms->other_node},
        };

        if (ctl->json) {
            zoneinfo_json(zi, ms, z == 0);
            continue;
        }
        printf("Node %" PRIu32 ", zone %8s", zi->node, zi->name ? zi->name : "");
        if (first_zone_of_node(ir, z)) {
            printf("\n  per-node stats");
            printf("\n      %-12s %" PRIu64, "nr_anon_pages", ms->data_pages);
            printf("\n      %-12s %" PRIu64, "nr_slab_reclaimable",
                   ms->slab_reclaimable_pages);
            printf("\n      %-12s %" PRIu64, "nr_slab_unreclaimable",
                   ms->slab_pages - ms->slab_reclaimable_pages);
            printf("\n      %-12s %" PRIu64, "nr_page_table_pages", ms->table_pages);
        }
        printf("\n  pages free     %" PRIu64
               "\n        boost    %u"
               "\n        min      %" PRIu64
               "\n        low      %" PRIu64
               "\n        high     %" PRIu64
               "\n        spanned  %" PRIu64
               "\n        present  %" PRIu64
               "\n        managed  %" PRIu64
               "\n        cma      %u"
               "\n        protection: (0)",
               zi->free_pages, 0u, zi->min_pages, zi->low_pages, zi->high_pages,
               zi->managed_pages, zi->managed_pages, zi->managed_pages, 0u);
        printf("\n      %-12s %" PRIu64, "nr_free_pages", zi->free_pages);
        for (size_t i = 0; i < sizeof(numa) / sizeof(numa[0]); i++)
            printf("\n      %-12s %" PRIu64, numa[i].name, numa[i].v);
        printf("\n  node_unreclaimable:  %u"
               "\n  start_pfn:           %" PRIu64 "\n", 0u, ms->start_pfn);
    }
    if (ctl->json)
        printf("]\n");
    return EXIT_SUCCESS;
}

#define NUMASTAT_MAX_NODES 64

/* numastat(8) without arguments: a column per node, summed over its zones. */
static int cmd_numastat(struct ctl *ctl, int argc, char **argv)
{
    static const char *const rows[] = {
        "numa_hit", "numa_miss", "numa_foreign", "interleave_hit",
        "local_node", "other_node",
    };
    uint64_t v[NUMASTAT_MAX_NODES][6] = {{0}};
    uint32_t nodes[NUMASTAT_MAX_NODES];
    size_t nr_nodes = 0;
    Rmem__InfoReply *ir;

    (void)argv;
    if (no_args("numastat", argc))
        return EXIT_USAGE;
    if (ctl_info(ctl, "numastat", false, &ir))
        return EXIT_FAILURE;
    for (size_t z = 0; z < ir->n_zones; z++) {
        const Rmem__MemZoneStat *ms = zone_stat(ir, z);
        const uint64_t zv[6] = { ms->numa_hit, ms->numa_miss, ms->numa_foreign,
                                 ms->interleave_hit, ms->local_node, ms->other_node };
        size_t n;

        for (n = 0; n < nr_nodes && nodes[n] != ir->zones[z]->node; n++)
            ;
        if (n == nr_nodes) {
            if (nr_nodes == NUMASTAT_MAX_NODES)
                continue;
            nodes[nr_nodes++] = ir->zones[z]->node;
        }
        for (size_t r = 0; r < 6; r++)
            v[n][r] += zv[r];
    }
    if (ctl->json) {
        putchar('[');
        for (size_t n = 0; n < nr_nodes; n++) {
            printf("%s{\"node\": %" PRIu32, n ? ", " : "", nodes[n]);
            for (size_t r = 0; r < 6; r++)
                printf(", \"%s\": %" PRIu64, rows[r], v[n][r]);
            putchar('}');
        }
        printf("]\n");
        return EXIT_SUCCESS;
    }
    printf("%-16s", "");
    for (size_t n = 0; n < nr_nodes; n++) {
        char name[16];

        snprintf(name, sizeof(name), "node%" PRIu32, nodes[n]);
        printf("%16s", name);
    }
    putchar('\n');
    for (size_t r = 0; r < 6; r++) {
        printf("%-16s", rows[r]);
        for (size_t n = 0; n < nr_nodes; n++)
            printf("%16" PRIu64, v[n][r]);
        putchar('\n');
    }
    return EXIT_SUCCESS;
}

/* ---- tenants, cgroups, segments: the admin role ------------------------ */

/* Admin commands say Hello as tenant "admin" with the admin token:
 * --admin-token, $RMEM_ADMIN_TOKEN, or else --token. */
static void ctl_as_admin(struct ctl *ctl)
{
    ctl->tenant = "admin";
    if (ctl->admin_token)
        ctl->token = ctl->admin_token;
}

static int admin_rpc(struct ctl *ctl, const char *what, Rmem__Request *req,
                     Rmem__Response__BodyCase want, Rmem__Response **resp)
{
    int err;

    ctl_as_admin(ctl);
    err = ctl_rpc(ctl, what, req, want, resp);
    if (!err && (*resp)->message && (*resp)->message[0])
        fprintf(stderr, "rmemctl: %s: %s\n", what, (*resp)->message);
    return err ? EXIT_FAILURE : EXIT_SUCCESS;
}

static bool is_number(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static void json_token(const char *s, size_t len)
{
    char buf[256];

    if (is_number(s, len)) {
        fwrite(s, 1, len, stdout);
        return;
    }
    snprintf(buf, sizeof(buf), "%.*s", (int)len, s);
    json_string(buf);
}

/* A cgroup file as JSON: `key value` lines (memory.stat, oom_control) an
 * object, one number a number, anything else a string. */
static void json_cgroup_value(const char *text)
{
    const char *nl = strchr(text, '\n');
    bool lines = nl && nl[1] != '\0';

    if (!lines && !strchr(text, ' ')) {
        json_token(text, nl ? (size_t)(nl - text) : strlen(text));
        return;
    }
    putchar('{');
    for (const char *p = text; *p;) {
        const char *end = strchr(p, '\n'), *sp;

        if (!end)
            end = p + strlen(p);
        sp = memchr(p, ' ', (size_t)(end - p));
        if (sp) {
            printf("%s", p == text ? "" : ", ");
            json_token(p, (size_t)(sp - p));
            printf(": ");
            json_token(sp + 1, (size_t)(end - sp - 1));
        }
        p = *end ? end + 1 : end;
    }
    putchar('}');
}

#define UNLIMITED_BYTES 9223372036854771712ull

static void print_limit(uint64_t v)
{
    if (v == UNLIMITED_BYTES)
        printf("%14s", "unlimited");
    else
        printf("%14" PRIu64, v);
}

static int tenant_list(struct ctl *ctl)
{
    Rmem__TenantList tl = RMEM__TENANT_LIST__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;
    Rmem__TenantListReply *r;

    req.body_case = RMEM__REQUEST__BODY_TENANT_LIST;
    req.tenant_list = &tl;
    if (admin_rpc(ctl, "tenant list", &req, RMEM__RESPONSE__BODY_TENANT_LIST, &resp))
        return EXIT_FAILURE;
    r = resp->tenant_list;
    if (ctl->json) {
        putchar('[');
        for (size_t i = 0; i < r->n_tenants; i++) {
            const Rmem__TenantInfo *t = r->tenants[i];

            printf("%s{\"name\": ", i ? ", " : "");
            json_string(t->name);
            printf(", \"token\": %s, \"usage_bytes\": %" PRIu64 ", \"limit_bytes\": %"
                   PRIu64 ", \"memsw_usage_bytes\": %" PRIu64 ", \"memsw_limit_bytes\": %"
                   PRIu64 ", \"segments\": %" PRIu64 ", \"sessions\": %" PRIu64 "}",
                   t->has_token ? "true" : "false", t->usage, t->limit,
                   t->memsw_usage, t->memsw_limit, t->segments, t->sessions);
        }
        printf("]\n");
        return EXIT_SUCCESS;
    }
    printf("%-20s %-5s %14s %14s %14s %14s %8s %8s\n", "NAME", "TOKEN", "USAGE",
           "LIMIT", "MEMSW_USAGE", "MEMSW_LIMIT", "SEGMENTS", "SESSIONS");
    for (size_t i = 0; i < r->n_tenants; i++) {
        const Rmem__TenantInfo *t = r->tenants[i];

        printf("%-20s %-5s %14" PRIu64 " ", t->name, t->has_token ? "yes" : "no",
               t->usage);
        print_limit(t->limit);
        printf(" %14" PRIu64 " ", t->memsw_usage);
        print_limit(t->memsw_limit);
        printf(" %8" PRIu64 " %8" PRIu64 "\n", t->segments, t->sessions);
    }
    return EXIT_SUCCESS;
}

static int tenant_create(struct ctl *ctl, int argc, char **argv)
{
    Rmem__TenantCreate tc = RMEM__TENANT_CREATE__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;

    if (argc == 3 && strcmp(argv[1], "--token") == 0)
        tc.token = argv[2];
    else if (argc != 1) {
        fprintf(stderr, "rmemctl: usage: tenant create NAME [--token T]\n");
        return EXIT_USAGE;
    }
    tc.name = argv[0];
    req.body_case = RMEM__REQUEST__BODY_TENANT_CREATE;
    req.tenant_create = &tc;
    if (admin_rpc(ctl, "tenant create", &req, RMEM__RESPONSE__BODY__NOT_SET, &resp))
        return EXIT_FAILURE;
    if (ctl->json) {
        printf("{\"created\": ");
        json_string(tc.name);
        printf("}\n");
    }
    return EXIT_SUCCESS;
}

static int tenant_delete(struct ctl *ctl, int argc, char **argv)
{
    Rmem__TenantDelete td = RMEM__TENANT_DELETE__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;

    if (argc != 1) {
        fprintf(stderr, "rmemctl: usage: tenant delete NAME\n");
        return EXIT_USAGE;
    }
    td.name = argv[0];
    req.body_case = RMEM__REQUEST__BODY_TENANT_DELETE;
    req.tenant_delete = &td;
    if (admin_rpc(ctl, "tenant delete", &req, RMEM__RESPONSE__BODY__NOT_SET, &resp))
        return EXIT_FAILURE;
    if (ctl->json) {
        printf("{\"deleted\": ");
        json_string(td.name);
        printf("}\n");
    }
    return EXIT_SUCCESS;
}

static int cmd_tenant(struct ctl *ctl, int argc, char **argv)
{
    if (argc == 1 && strcmp(argv[0], "list") == 0)
        return tenant_list(ctl);
    if (argc >= 1 && strcmp(argv[0], "create") == 0)
        return argc >= 2 ? tenant_create(ctl, argc - 1, argv + 1) :
               tenant_create(ctl, 0, NULL);
    if (argc >= 1 && strcmp(argv[0], "delete") == 0)
        return tenant_delete(ctl, argc - 1, argv + 1);
    fprintf(stderr, "rmemctl: usage: tenant list | create NAME [--token T] | "
            "delete NAME\n");
    return EXIT_USAGE;
}

static int cgroup_get(struct ctl *ctl, const char *tenant, const char *key)
{
    Rmem__CgroupGet g = RMEM__CGROUP_GET__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;
    Rmem__CgroupGetReply *r;

    g.tenant = (char *)tenant;
    g.key = (char *)(key ? key : "");
    req.body_case = RMEM__REQUEST__BODY_CGROUP_GET;
    req.cgroup_get = &g;
    if (admin_rpc(ctl, "cgroup get", &req, RMEM__RESPONSE__BODY_CGROUP_GET, &resp))
        return EXIT_FAILURE;
    r = resp->cgroup_get;
    if (ctl->json) {
        if (key && r->n_files == 1) {
            json_cgroup_value(r->files[0]->value);
            putchar('\n');
            return EXIT_SUCCESS;
        }
        putchar('{');
        for (size_t i = 0; i < r->n_files; i++) {
            printf("%s", i ? ", " : "");
            json_string(r->files[i]->key);
            printf(": ");
            json_cgroup_value(r->files[i]->value);
        }
        printf("}\n");
        return EXIT_SUCCESS;
    }
    if (key) {
        /* Byte for byte the Linux file. */
        for (size_t i = 0; i < r->n_files; i++)
            fputs(r->files[i]->value, stdout);
        return EXIT_SUCCESS;
    }
    /* Every file, as `grep . memory.*` shows a cgroup directory. */
    for (size_t i = 0; i < r->n_files; i++) {
        for (const char *p = r->files[i]->value; *p;) {
            const char *end = strchr(p, '\n');
            size_t len = end ? (size_t)(end - p) : strlen(p);

            printf("%s:%.*s\n", r->files[i]->key, (int)len, p);
            p += len + (end != NULL);
        }
    }
    return EXIT_SUCCESS;
}

static int cgroup_set(struct ctl *ctl, char **argv)
{
    Rmem__CgroupSet s = RMEM__CGROUP_SET__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;

    s.tenant = argv[0];
    s.key = argv[1];
    s.value = argv[2];
    req.body_case = RMEM__REQUEST__BODY_CGROUP_SET;
    req.cgroup_set = &s;
    if (admin_rpc(ctl, "cgroup set", &req, RMEM__RESPONSE__BODY__NOT_SET, &resp))
        return EXIT_FAILURE;
    /* Silent like `echo VALUE > FILE`; --json shows the file after. */
    return ctl->json ? cgroup_get(ctl, argv[0], argv[1]) : EXIT_SUCCESS;
}

static int cmd_cgroup(struct ctl *ctl, int argc, char **argv)
{
    if (argc >= 2 && argc <= 3 && strcmp(argv[0], "get") == 0)
        return cgroup_get(ctl, argv[1], argc == 3 ? argv[2] : NULL);
    if (argc == 4 && strcmp(argv[0], "set") == 0)
        return cgroup_set(ctl, argv + 1);
    fprintf(stderr, "rmemctl: usage: cgroup get TENANT [KEY] | cgroup set TENANT "
            "KEY VALUE\n");
    return EXIT_USAGE;
}

/* unlink TENANT NAME: shm_unlink for an operator (the admin role). */
static int segment_unlink(struct ctl *ctl, const char *tenant, const char *name)
{
    Rmem__SegmentUnlink su = RMEM__SEGMENT_UNLINK__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;

    su.tenant = (char *)tenant;
    su.name = (char *)name;
    req.body_case = RMEM__REQUEST__BODY_SEGMENT_UNLINK;
    req.segment_unlink = &su;
    if (admin_rpc(ctl, "segment unlink", &req, RMEM__RESPONSE__BODY__NOT_SET, &resp))
        return EXIT_FAILURE;
    if (ctl->json) {
        printf("{\"tenant\": ");
        json_string(tenant);
        printf(", \"unlinked\": ");
        json_string(name);
        printf("}\n");
    }
    return EXIT_SUCCESS;
}

static int cmd_segment(struct ctl *ctl, int argc, char **argv)
{
    Rmem__SegmentList sl = RMEM__SEGMENT_LIST__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;
    Rmem__SegmentListReply *r;

    if (argc == 3 && strcmp(argv[0], "unlink") == 0)
        return segment_unlink(ctl, argv[1], argv[2]);
    if (argc < 1 || argc > 2 || strcmp(argv[0], "list") != 0) {
        fprintf(stderr, "rmemctl: usage: segment list [TENANT] | segment unlink "
                "TENANT NAME\n");
        return EXIT_USAGE;
    }
    sl.tenant = argc == 2 ? argv[1] : "";
    req.body_case = RMEM__REQUEST__BODY_SEGMENT_LIST;
    req.segment_list = &sl;
    if (admin_rpc(ctl, "segment list", &req, RMEM__RESPONSE__BODY_SEGMENT_LIST, &resp))
        return EXIT_FAILURE;
    r = resp->segment_list;
    if (ctl->json) {
        putchar('[');
        for (size_t i = 0; i < r->n_segments; i++) {
            const Rmem__SegmentInfo *s = r->segments[i];
            bool named = s->name && s->name[0];

            printf("%s{\"tenant\": ", i ? ", " : "");
            json_string(s->tenant);
            printf(", \"segment\": %" PRIu64 ", \"pages\": %" PRIu64
                   ", \"resident_pages\": %" PRIu64 ", \"reserved_pages\": %" PRIu64
                   ", \"swapped_pages\": %" PRIu64 ", \"shared_pages\": %" PRIu64
                   ", \"dead\": %s", s->segment, s->pages, s->resident_pages,
                   s->reserved_pages, s->swapped_pages, s->shared_pages,
                   s->dead ? "true" : "false");
            printf(", \"kind\": \"%s\", \"name\": ", named ? "named" : "anon");
            json_string(named ? s->name : "");
            printf(", \"opens\": %u, \"unlinked\": %s}", s->opens,
                   s->unlinked ? "true" : "false");
        }
        printf("]\n");
        return EXIT_SUCCESS;
    }
    printf("%-20s %10s %12s %12s %12s %12s %12s %-10s %-5s %5s %s\n", "TENANT",
           "SEGMENT", "PAGES", "RESIDENT", "RESERVED", "SWAPPED", "SHARED", "STATE",
           "KIND", "OPENS", "NAME");
    for (size_t i = 0; i < r->n_segments; i++) {
        const Rmem__SegmentInfo *s = r->segments[i];
        bool named = s->name && s->name[0];
        char opens[16] = "-";

        if (named)
            snprintf(opens, sizeof(opens), "%u", s->opens);
        printf("%-20s %10" PRIu64 " %12" PRIu64 " %12" PRIu64 " %12" PRIu64
               " %12" PRIu64 " %12" PRIu64 " %-10s %-5s %5s %s\n", s->tenant,
               s->segment, s->pages, s->resident_pages, s->reserved_pages,
               s->swapped_pages, s->shared_pages, s->dead ? "oom-killed" : s->unlinked ? "unlinked" : "live",
               named ? "named" : "anon", opens, named ? s->name : "-");
    }
    return EXIT_SUCCESS;
}

/* ---- swapinfo -------------------------------------------------------- */

/* The reclaim counters of SwapInfoReply, for --json. */
static const struct {
    const char *key;
    size_t off;
} swap_counters[] = {
#define C(member) {#member, offsetof(Rmem__SwapInfoReply, member)}
    C(pswpin), C(pswpout), C(pgscan_kswapd), C(pgscan_direct),
    C(pgsteal_kswapd), C(pgsteal_direct), C(pgactivate), C(pgdeactivate),
    C(pgrotated), C(allocstall), C(swap_ra), C(swap_ra_hit), C(swap_io_errors),
    C(zswpin), C(zswpout), C(zswpwb),
#undef C
};

/* zswap's counters, as Linux's /sys/kernel/debug/zswap names its files,
 * in ls order. */
static const struct {
    const char *key;
    size_t off;
} zswap_counters[] = {
#define C(member) {#member, offsetof(Rmem__ZswapInfo, member)}
    C(pool_limit_hit), C(pool_total_size), C(reject_alloc_fail),
    C(reject_compress_poor), C(reject_kmemcache_fail), C(reject_reclaim_fail),
    C(same_filled_pages), C(stored_pages), C(written_back_pages),
#undef C
};

#define NR_ZSWAP_COUNTERS (sizeof(zswap_counters) / sizeof(zswap_counters[0]))

static uint64_t zswap_counter(const Rmem__ZswapInfo *z, size_t i)
{
    return *(const uint64_t *)(const void *)((const char *)z + zswap_counters[i].off);
}

/* events: zswapinfo's zswpin, zswpout and zswpwb (swapinfo has them
 * beside this object). */
static void zswap_json(const Rmem__ZswapInfo *z, const Rmem__SwapInfoReply *events)
{
    printf("{\"enabled\": %s, \"max_pool_percent\": %" PRIu32
           ", \"max_pool_bytes\": %" PRIu64, z->enabled ? "true" : "false",
           z->max_pool_percent, z->max_pool_bytes);
    for (size_t i = 0; i < NR_ZSWAP_COUNTERS; i++)
        printf(", \"%s\": %" PRIu64, zswap_counters[i].key, zswap_counter(z, i));
    if (events)
        printf(", \"zswpin\": %" PRIu64 ", \"zswpout\": %" PRIu64
               ", \"zswpwb\": %" PRIu64, events->zswpin, events->zswpout,
               events->zswpwb);
    printf("}");
}

static void swapinfo_json(const Rmem__SwapInfoReply *r)
{
    printf("{\"swaps\": [");
    for (size_t i = 0; i < r->n_devices; i++) {
        const Rmem__SwapDevice *d = r->devices[i];

        printf("%s{\"filename\": ", i ? ", " : "");
        json_string(d->filename);
        printf(", \"type\": ");
        json_string(d->type);
        printf(", \"size_bytes\": %" PRIu64 ", \"used_bytes\": %" PRIu64
               ", \"priority\": %" PRId32 "}", d->size_bytes, d->used_bytes,
               d->priority);
    }
    printf("]");
    for (size_t i = 0; i < sizeof(swap_counters) / sizeof(swap_counters[0]); i++)
        printf(", \"%s\": %" PRIu64, swap_counters[i].key,
               *(const uint64_t *)(const void *)((const char *)r +
                                                 swap_counters[i].off));
    if (r->zswap) {
        printf(", \"zswap\": ");
        zswap_json(r->zswap, NULL);
    }
    printf("}\n");
}

static int swap_info(struct ctl *ctl, const char *what, int argc,
                     const Rmem__SwapInfoReply **out)
{
    Rmem__SwapInfo si = RMEM__SWAP_INFO__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;

    if (no_args(what, argc))
        return EXIT_USAGE;
    req.body_case = RMEM__REQUEST__BODY_SWAP_INFO;
    req.swap_info = &si;
    if (ctl_rpc(ctl, what, &req, RMEM__RESPONSE__BODY_SWAP_INFO, &resp))
        return EXIT_FAILURE;
    *out = resp->swap_info;
    return EXIT_SUCCESS;
}

/* seq_file_path(): a space, tab, newline or backslash as \ooo. */
static int print_path(const char *s)
{
    int len = 0;

    for (; *s; s++) {
        if (strchr(" \t\n\\", *s))
            len += printf("\\%03o", (unsigned char)*s);
        else
            len += putchar(*s) != EOF;
    }
    return len;
}

static int cmd_swapinfo(struct ctl *ctl, int argc, char **argv)
{
    const Rmem__SwapInfoReply *r;
    int err = swap_info(ctl, "swapinfo", argc, &r);

    (void)argv;
    if (err)
        return err;
    if (ctl->json) {
        swapinfo_json(r);
        return EXIT_SUCCESS;
    }
    /* mm/swapfile.c swap_show(), byte for byte. */
    printf("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n");
    for (size_t i = 0; i < r->n_devices; i++) {
        const Rmem__SwapDevice *d = r->devices[i];
        int len = print_path(d->filename ? d->filename : "");
        uint64_t size = d->size_bytes / 1024, used = d->used_bytes / 1024;

        printf("%*s%s\t%" PRIu64 "\t%s%" PRIu64 "\t%s%" PRId32 "\n",
               len < 40 ? 40 - len : 1, " ", "file\t", size,
               size < 10000000 ? "\t" : "", used, used < 10000000 ? "\t" : "",
               d->priority);
    }
    return EXIT_SUCCESS;
}

/* zswap as Linux spreads it: the /sys/kernel/debug/zswap files in ls
 * order, then /sys/module/zswap/parameters' enabled (Y/N) and
 * max_pool_percent, rmem's max_pool_bytes, and the /proc/vmstat events
 * zswpin, zswpout and zswpwb; one "name value" a line.  Without a swap
 * file there is no zswap. */
static int cmd_zswapinfo(struct ctl *ctl, int argc, char **argv)
{
    const Rmem__SwapInfoReply *r;
    const Rmem__ZswapInfo *z;
    int err = swap_info(ctl, "zswapinfo", argc, &r);

    (void)argv;
    if (err)
        return err;
    z = r->zswap;
    if (!z) {
        fprintf(stderr, "rmemctl: zswapinfo: %s has no swap file, so no zswap\n",
                ctl->server);
        return EXIT_FAILURE;
    }
    if (ctl->json) {
        zswap_json(z, r);
        printf("\n");
        return EXIT_SUCCESS;
    }
    for (size_t i = 0; i < NR_ZSWAP_COUNTERS; i++)
        printf("%s %" PRIu64 "\n", zswap_counters[i].key, zswap_counter(z, i));
    printf("enabled %s\nmax_pool_percent %" PRIu32 "\nmax_pool_bytes %" PRIu64
           "\nzswpin %" PRIu64 "\nzswpout %" PRIu64 "\nzswpwb %" PRIu64 "\n",
           z->enabled ? "Y" : "N", z->max_pool_percent, z->max_pool_bytes,
           r->zswpin, r->zswpout, r->zswpwb);
    return EXIT_SUCCESS;
}

/* ---- ksm ------------------------------------------------------------- */

/* The files of /sys/kernel/mm/ksm that rmem has, in ls order, then rmem's
 * own two. */
static void ksm_print(const struct ctl *ctl, const Rmem__KsmInfoReply *r)
{
    const struct { const char *name; uint64_t v; } rows[] = {
        {"full_scans", r->full_scans},
        {"max_page_sharing", r->max_page_sharing},
        {"pages_scanned", r->pages_scanned},
        {"pages_shared", r->pages_shared},
        {"pages_sharing", r->pages_sharing},
        {"pages_skipped", r->pages_skipped},
        {"pages_to_scan", r->pages_to_scan},
        {"pages_unshared", r->pages_unshared},
        {"pages_volatile", r->pages_volatile},
        {"run", r->run},
        {"sleep_millisecs", r->sleep_millisecs},
        {"pages_swapped", r->pages_swapped},
        {"mergeable_segments", r->mergeable_segments},
    };
    size_t n = sizeof(rows) / sizeof(rows[0]);

    if (ctl->json)
        printf("{\"general_profit\": %" PRId64, r->general_profit);
    else
        printf("full_scans %" PRIu64 "\ngeneral_profit %" PRId64 "\n",
               r->full_scans, r->general_profit);
    for (size_t i = ctl->json ? 0 : 1; i < n; i++) {
        if (ctl->json)
            printf(", \"%s\": %" PRIu64, rows[i].name, rows[i].v);
        else
            printf("%s %" PRIu64 "\n", rows[i].name, rows[i].v);
    }
    if (ctl->json)
        printf("}\n");
}

static int cmd_ksm(struct ctl *ctl, int argc, char **argv)
{
    Rmem__KsmSet set = RMEM__KSM_SET__INIT;
    Rmem__KsmInfo info = RMEM__KSM_INFO__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;

    if (argc != 1) {
        fprintf(stderr, "rmemctl: usage: ksm on|off|unmerge|stat\n");
        return EXIT_USAGE;
    }
    if (strcmp(argv[0], "stat") == 0) {
        req.body_case = RMEM__REQUEST__BODY_KSM_INFO;
        req.ksm_info = &info;
    } else if (strcmp(argv[0], "on") == 0 || strcmp(argv[0], "off") == 0 ||
               strcmp(argv[0], "unmerge") == 0) {
        set.run = argv[0][0] == 'u' ? 2 : strcmp(argv[0], "on") == 0;
        req.body_case = RMEM__REQUEST__BODY_KSM_SET;
        req.ksm_set = &set;
    } else {
        fprintf(stderr, "rmemctl: ksm: '%s': on, off, unmerge or stat\n", argv[0]);
        return EXIT_USAGE;
    }
    if (admin_rpc(ctl, "ksm", &req, RMEM__RESPONSE__BODY_KSM_INFO, &resp))
        return EXIT_FAILURE;
    if (req.body_case == RMEM__REQUEST__BODY_KSM_INFO || ctl->json)
        ksm_print(ctl, resp->ksm_info);
    else
        printf("run %u\n", resp->ksm_info->run);
    return EXIT_SUCCESS;
}

/* ---- main ------------------------------------------------------------ */

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < NR_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"server", required_argument, NULL, 's'},
        {"tenant", required_argument, NULL, 't'},
        {"token", required_argument, NULL, 'k'},
        {"admin-token", required_argument, NULL, 'a'},
        {"json", no_argument, NULL, 'j'},
        {"tls-ca", required_argument, NULL, 'C'},
        {"tls-cert", required_argument, NULL, 'E'},
        {"tls-key", required_argument, NULL, 'K'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const struct command *cmd;
    struct ctl ctl = {0};
    rmem_options o;
    int c, rc, nargs = 0;

    rmem_options_init(&o);          /* RMEM_SERVER, RMEM_TENANT, RMEM_TOKEN,
                                       RMEM_TLS_* */
    ctl.server = o.server;
    ctl.tenant = o.tenant;
    ctl.token = o.token;
    ctl.tls_ca = o.tls_ca;
    ctl.tls_cert = o.tls_cert;
    ctl.tls_key = o.tls_key;
    ctl.admin_token = getenv("RMEM_ADMIN_TOKEN");

    /* '+': options end at the command; its own arguments follow it. */
    while ((c = getopt_long(argc, argv, "+s:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 's': ctl.server = optarg; break;
        case 't': ctl.tenant = optarg; break;
        case 'k': ctl.token = optarg; break;
        case 'a': ctl.admin_token = optarg; break;
        case 'j': ctl.json = true; break;
        case 'C': ctl.tls_ca = optarg; break;
        case 'E': ctl.tls_cert = optarg; break;
        case 'K': ctl.tls_key = optarg; break;
        case 'h': usage(stdout); return EXIT_SUCCESS;
        case 'V': printf("rmemctl %s\n", RMEM_VERSION); return EXIT_SUCCESS;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "rmemctl: no command given\n");
        usage(stderr);
        return EXIT_USAGE;
    }
    cmd = find_command(argv[optind]);
    if (!cmd) {
        fprintf(stderr, "rmemctl: unknown command '%s' (rmemctl --help lists them)\n",
                argv[optind]);
        return EXIT_USAGE;
    }
    /* --json is also accepted after the command ("rmemctl info --json");
     * the rest is the command's. */
    for (int i = optind + 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            ctl.json = true;
        else
            argv[optind + 1 + nargs++] = argv[i];
    }
    rc = cmd->run(&ctl, nargs, argv + optind + 1);
    if (ctl.connected)
        rmem__conn_close(&ctl.cn);
    rmem__tls_ctx_free(ctl.tls);
    if (fflush(stdout) != 0 && rc == EXIT_SUCCESS) {
        fprintf(stderr, "rmemctl: writing output: %s\n", strerror(errno));
        rc = EXIT_FAILURE;
    }
    return rc;
}

/* ---- reload / shutdown ----------------------------------------------- */

static int cmd_reload(struct ctl *ctl, int argc, char **argv)
{
    Rmem__Reload rl = RMEM__RELOAD__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;

    (void)argv;
    if (argc != 0) {
        fprintf(stderr, "rmemctl: usage: reload\n");
        return EXIT_USAGE;
    }
    req.body_case = RMEM__REQUEST__BODY_RELOAD;
    req.reload = &rl;
    if (admin_rpc(ctl, "reload", &req, RMEM__RESPONSE__BODY_RELOAD, &resp))
        return EXIT_FAILURE;
    if (ctl->json)
        printf("{\"changed\": %u}\n", resp->reload->changed);
    else
        printf("reloaded: %u option%s changed\n", resp->reload->changed,
               resp->reload->changed == 1 ? "" : "s");
    return EXIT_SUCCESS;
}

static int cmd_shutdown(struct ctl *ctl, int argc, char **argv)
{
    Rmem__Shutdown sd = RMEM__SHUTDOWN__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;

    (void)argv;
    if (argc != 0) {
        fprintf(stderr, "rmemctl: usage: shutdown\n");
        return EXIT_USAGE;
    }
    req.body_case = RMEM__REQUEST__BODY_SHUTDOWN;
    req.shutdown = &sd;
    if (admin_rpc(ctl, "shutdown", &req, RMEM__RESPONSE__BODY__NOT_SET, &resp))
        return EXIT_FAILURE;
    if (ctl->json)
        printf("{\"shutdown\": true}\n");
    return EXIT_SUCCESS;
}
