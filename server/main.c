/* rmemd: parse the configuration, refuse unsafe ones, run the server.
 * Exit status: 0 after a clean SIGTERM/SIGINT, 2 for a bad command line or
 * configuration, 1 when the server cannot start. */
#include "internal.h"

#include <stdlib.h>

int main(int argc, char **argv)
{
    struct config cfg;
    int err;

    if (config_init(&cfg))
        return 2;
    err = config_parse_args(&cfg, argc, argv);
    if (err == CONFIG_EXIT) {
        config_free(&cfg);
        return 0;
    }
    if (err || config_check(&cfg)) {
        config_free(&cfg);
        return 2;
    }
    log_level = cfg.log_level;
    err = server_run(&cfg);
    config_free(&cfg);
    return err ? 1 : 0;
}
