/* Tenants: a name, an optional token, and the memory cgroup every page of
 * their segments is charged to.  The built-in "default" tenant exists from
 * the start; the admin role creates and deletes others (rpc_admin.c) and
 * authenticates here too, under the reserved name "admin".
 * Tokens are compared through their SHA-256 digests with CRYPTO_memcmp, so
 * neither the content nor the length of a secret leaks through timing. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

static void free_token(struct tenant *t)
{
    if (t->token)
        OPENSSL_cleanse(t->token, strlen(t->token));
    mm_kvfree(t->srv->mm, t->token);
    t->token = NULL;
}

int tenant_set_token(struct tenant *t, const char *token)
{
    char *dup = NULL;

    if (token) {
        dup = mm_kvstrdup(t->srv->mm, token);
        if (!dup)
            return -ENOMEM;
    }
    free_token(t);
    t->token = dup;
    return 0;
}

int tenant_create(struct server *srv, const char *name, const char *token,
                  struct tenant **out)
{
    struct tenant *t = slab_zalloc(srv->tenant_cache);
    int err = -ENOMEM;

    if (!t)
        return -ENOMEM;
    t->srv = srv;
    idmap_init(&t->sessions, srv->mm);
    t->name = mm_kvstrdup(srv->mm, name);
    if (!t->name)
        goto err_free;
    if (token) {
        t->token = mm_kvstrdup(srv->mm, token);
        if (!t->token)
            goto err_free;
    }
    err = memcg_create(srv->mm, name, &t->memcg);
    if (err)
        goto err_free;
    t->next = srv->tenants;
    srv->tenants = t;
    srv->ntenants++;
    *out = t;
    return 0;

err_free:
    mm_kvfree(srv->mm, t->token);
    mm_kvfree(srv->mm, t->name);
    slab_free(srv->tenant_cache, t);
    return err;
}

void tenant_destroy(struct tenant *t)
{
    struct server *srv = t->srv;
    struct tenant **pp;

    for (pp = &srv->tenants; *pp; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            srv->ntenants--;
            break;
        }
    }
    if (t->sessions.len)
        log_error("tenant '%s' destroyed with %u sessions alive", t->name,
                  t->sessions.len);
    idmap_free(&t->sessions);
    tenant_named_destroy_all(t);
    memcg_destroy(t->memcg);
    free_token(t);
    mm_kvfree(srv->mm, t->name);
    slab_free(srv->tenant_cache, t);
}

struct tenant *tenant_find(struct server *srv, const char *name)
{
    for (struct tenant *t = srv->tenants; t; t = t->next)
        if (strcmp(t->name, name) == 0)
            return t;
    return NULL;
}

bool tenant_secret_equal(const char *want, const char *got)
{
    unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];

    SHA256((const unsigned char *)want, strlen(want), a);
    SHA256((const unsigned char *)got, strlen(got), b);
    return CRYPTO_memcmp(a, b, sizeof(a)) == 0;
}

int tenant_check_name(const char *name, const char **why)
{
    size_t len = strlen(name);

    *why = NULL;
    if (len == 0)
        *why = "empty";
    else if (len >= TENANT_NAME_MAX)
        *why = "longer than 63 bytes";
    else if (strcmp(name, TENANT_ADMIN) == 0)
        *why = "reserved for the admin role";
    else if (strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                    "0123456789_.-") != len)
        *why = "only letters, digits, '_', '.' and '-' are allowed";
    return *why ? -EINVAL : 0;
}

int tenant_authenticate_admin(const struct config *cfg, const char *token,
                              bool loopback)
{
    if (cfg->admin_token)
        return tenant_secret_equal(cfg->admin_token, token ? token : "") ? 0 : -EACCES;
    return loopback ? 0 : -EACCES;
}

uint64_t tenant_nr_segments(const struct tenant *t)
{
    return memcg_nr_segments(t->memcg);
}

int tenant_authenticate(const struct tenant *t, const char *token, bool loopback)
{
    if (t->token)
        return tenant_secret_equal(t->token, token ? token : "") ? 0 : -EACCES;
    return loopback ? 0 : -EACCES;
}
