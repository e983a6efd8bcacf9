/* fuzz_sweep_config: a sweep config (validation and grid expansion) on arbitrary bytes. */
#include "fuzz.h"
#include "sweep_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fuzz_cstr(data, size);
    if (!text) return 0;
    gq_sweep_config *cfg = NULL;
    gq_err err = {{0}};
    gq_status st = gq_sweep_config_parse(text, FUZZ_PATH, &cfg, &err);
    fuzz_check_error(st, &err);
    if (st == GQ_OK && (cfg->n_points < 1 || cfg->n_points > GQ_SWEEP_MAX_POINTS)) abort();
    gq_sweep_config_free(cfg);
    free(text);
    return 0;
}
