/* testquant: the glueq CLI in process: a command run as `glueq COMMAND ARGS...` would
 * run it, and quantizing a loaded model in memory exactly as the CLI does, for the tests
 * that compare that against an exported or an FP32 model (test_export, test_rosaq).
 * Kept apart from testlib so that only tests linking the CLI depend on it. */
#ifndef GQ_TESTQUANT_H
#define GQ_TESTQUANT_H

#include "cli.h"
#include "testlib.h"

/* Quantizes m in place with glueq's quantization flags (flags[0..nflags-1], parsed as the
 * CLI parses them) for task rte, calibrating through r and caching method state in
 * cache_dir; rep receives the report. The model keeps the quantized weights. */
gq_status gq_test_quantize(const gq_test_ctx *t, char **flags, int nflags, const char *cache_dir, gq_encoder *m,
                           gq_encoder_runner *r, gq_quant_report *rep, gq_err *err);

/* `glueq command argv[0..argc-1]`: its exit status (argc at most 32). */
int gq_test_cli(const char *command, int argc, char **argv);

#endif
