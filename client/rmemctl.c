/* rmemctl: the operator's view of an rmemd server.
 *
 *   rmemctl [-s HOST:PORT] [--token T] [--tenant T] [--json] COMMAND [ARGS]
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
static int cmd_slabinfo(struct ctl *ctl, int argc, char **argv);
static int cmd_meminfo(struct ctl *ctl, int argc, char **argv);
static int cmd_zoneinfo(struct ctl *ctl, int argc, char **argv);
static int cmd_numastat(struct ctl *ctl, int argc, char **argv);

static const struct command commands[] = {
    {"info", cmd_info, "",
     "server, pool, connection and traffic figures"},
    {"buddyinfo", cmd_buddyinfo, "",
     "free blocks of each order per zone, as /proc/buddyinfo"},
    {"slabinfo", cmd_slabinfo, "",
     "the server's slab caches, as /proc/slabinfo 2.1"},
    {"meminfo", cmd_meminfo, "",
     "the pool by use, as /proc/meminfo"},
    {"zoneinfo", cmd_zoneinfo, "",
     "per zone pages, watermarks and counters, as /proc/zoneinfo"},
    {"numastat", cmd_numastat, "",
     "allocations per NUMA node, as numastat(8)"},
};

#define NR_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
    fprintf(f,
        "usage: rmemctl [-s HOST:PORT] [--token T] [--tenant T] [--json] COMMAND\n"
        "\n"
        "  -s, --server HOST:PORT  rmemd to ask (default $RMEM_SERVER or 127.0.0.1:7070)\n"
        "      --tenant T          tenant to connect as (default $RMEM_TENANT or default)\n"
        "      --token T           its token (default $RMEM_TOKEN)\n"
        "      --json              print JSON instead of text\n"
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
    err = rmem__conn_open(&ctl->cn, &(struct rmem__conn_target){
        ctl->server, ctl->tenant, ctl->token, "rmemctl", 0});
    if (err) {
        if (err == -EINVAL)
            fprintf(stderr, "rmemctl: '%s': not a HOST:PORT address\n", ctl->server);
        else if (err == -EACCES)
            fprintf(stderr, "rmemctl: %s: %s (tenant '%s' refused; check "
                    "--tenant and --token)\n", ctl->server, strerror(-err),
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

static int ctl_info(struct ctl *ctl, const char *what, Rmem__InfoReply **out)
{
    Rmem__Info info = RMEM__INFO__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;
    int err;

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
    err = ctl_info(ctl, "info", &ir);
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
    err = ctl_info(ctl, "buddyinfo", &ir);
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

static int cmd_meminfo(struct ctl *ctl, int argc, char **argv)
{
    Rmem__InfoReply *ir;
    uint64_t table = 0;

    (void)argv;
    if (no_args("meminfo", argc))
        return EXIT_USAGE;
    if (ctl_info(ctl, "meminfo", &ir))
        return EXIT_FAILURE;
    table = ir->table_bytes;
    {
        /* In /proc/meminfo's order; KReclaimable is SReclaimable here. */
        const struct { const char *name; uint64_t bytes; } rows[] = {
            {"MemTotal", ir->pool_bytes},
            {"MemFree", ir->free_bytes},
            {"MemAvailable", ir->available_bytes},
            {"AnonPages", ir->data_bytes},
            {"KReclaimable", ir->slab_reclaimable_bytes},
            {"Slab", ir->slab_bytes},
            {"SReclaimable", ir->slab_reclaimable_bytes},
            {"SUnreclaim", ir->slab_bytes - ir->slab_reclaimable_bytes},
            {"PageTables", table},
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
    }
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
    if (ctl_info(ctl, "zoneinfo", &ir))
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
    if (ctl_info(ctl, "numastat", &ir))
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
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const struct command *cmd;
    struct ctl ctl = {0};
    rmem_options o;
    int c, rc, nargs = 0;

    rmem_options_init(&o);          /* RMEM_SERVER, RMEM_TENANT, RMEM_TOKEN */
    ctl.server = o.server;
    ctl.tenant = o.tenant;
    ctl.token = o.token;

    /* '+': options end at the command; its own arguments follow it. */
    while ((c = getopt_long(argc, argv, "+s:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 's': ctl.server = optarg; break;
        case 't': ctl.tenant = optarg; break;
        case 'k': ctl.token = optarg; break;
        case 'j': ctl.json = true; break;
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
    if (fflush(stdout) != 0 && rc == EXIT_SUCCESS) {
        fprintf(stderr, "rmemctl: writing output: %s\n", strerror(errno));
        rc = EXIT_FAILURE;
    }
    return rc;
}
