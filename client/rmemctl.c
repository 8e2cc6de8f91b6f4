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
static int cmd_swapinfo(struct ctl *ctl, int argc, char **argv);

static const struct command commands[] = {
    {"info", cmd_info, "",
     "server, pool, connection and traffic figures"},
    {"buddyinfo", cmd_buddyinfo, "",
     "free blocks of each order per zone, as /proc/buddyinfo"},
    {"swapinfo", cmd_swapinfo, "",
     "swap files as /proc/swaps (KiB), --json adds the reclaim counters"},
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
    F("Swap", "swap_total_bytes", F_U64, swap_total_bytes),
    F(NULL, "swap_used_bytes", F_U64, swap_used_bytes),
    F(NULL, "pswpin", F_U64, pswpin),
    F(NULL, "pswpout", F_U64, pswpout),
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
#undef C
};

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
    printf("}\n");
}

static int cmd_swapinfo(struct ctl *ctl, int argc, char **argv)
{
    Rmem__SwapInfo si = RMEM__SWAP_INFO__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;
    const Rmem__SwapInfoReply *r;

    (void)argv;
    if (argc > 0) {
        fprintf(stderr, "rmemctl: swapinfo takes no arguments\n");
        return EXIT_USAGE;
    }
    req.body_case = RMEM__REQUEST__BODY_SWAP_INFO;
    req.swap_info = &si;
    if (ctl_rpc(ctl, "swapinfo", &req, RMEM__RESPONSE__BODY_SWAP_INFO, &resp))
        return EXIT_FAILURE;
    r = resp->swap_info;
    if (ctl->json) {
        swapinfo_json(r);
        return EXIT_SUCCESS;
    }
    /* mm/swapfile.c swap_show(), byte for byte. */
    printf("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n");
    for (size_t i = 0; i < r->n_devices; i++) {
        const Rmem__SwapDevice *d = r->devices[i];
        const char *name = d->filename ? d->filename : "";
        int len = (int)strlen(name);
        uint64_t size = d->size_bytes / 1024, used = d->used_bytes / 1024;

        printf("%s%*s%s\t%" PRIu64 "\t%s%" PRIu64 "\t%s%" PRId32 "\n", name,
               len < 40 ? 40 - len : 1, " ", "file\t", size,
               size < 10000000 ? "\t" : "", used, used < 10000000 ? "\t" : "",
               d->priority);
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
