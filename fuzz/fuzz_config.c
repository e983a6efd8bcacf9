/* fuzz_config: a model's config.json (gq_encoder_config_parse) on arbitrary bytes. */
#include "encoder.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gq_encoder_config cfg;
    gq_err err = {{0}};
    gq_status st = gq_encoder_config_parse((const char *)data, size, FUZZ_PATH, &cfg, &err);
    fuzz_check_error(st, &err);
    if (st == GQ_OK) {
        if (cfg.dim < 1 || cfg.n_heads < 1 || cfg.dim % cfg.n_heads || cfg.n_labels < 1) abort();
        for (int i = 0; i < cfg.n_labels; i++)
            if (!cfg.labels[i]) abort();
        gq_encoder_config_free(&cfg);
    }
    return 0;
}
