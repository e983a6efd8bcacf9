/* export: writes a quantized model as an ordinary Hugging Face checkpoint directory of the
 * source's architecture (`glueq quantize`):
 *
 *   config.json            the source config, with torch_dtype/dtype set to float32
 *   vocab.txt              the vocabulary the model was used with
 *   tokenizer files        those of the source directory: vocab.json, merges.txt,
 *                          tokenizer.json, tokenizer_config.json, special_tokens_map.json
 *   model.safetensors      every tensor of the source checkpoint as F32 (position_ids as
 *                          I64), the quantized matrices holding their dequantized values,
 *                          under the source's names
 *   quantization.json      the options, the source checkpoint and, per quantized matrix,
 *                          its protected count and effective bits
 *   protected.safetensors  one U8 0/1 mask per quantized matrix, named like its weight
 *                          (1 = kept in FP32; for methods that transform W, e.g. rosaq, the
 *                          mask is over the transformed matrix, quantization.json says which)
 *
 * The directory appears whole or not at all: everything is written into a temporary
 * directory beside it, then renamed. An existing non-empty directory is never replaced.
 */
#ifndef GQ_EXPORT_H
#define GQ_EXPORT_H

#include <cJSON.h>

#include "quant.h"

typedef struct {
    const gq_encoder *model;            /* holds the quantized weights (loaded from a checkpoint) */
    const char *vocab_path;           /* written as vocab.txt; NULL: the source directory's tokenizer files only */
    const gq_quant_session *session;  /* the masks of the last apply */
    const gq_quant_report *rep;       /* that apply's report, checked against the model and
                                         the masks before anything is written */
    const cJSON *options;             /* recorded as quantization.json's "options" */
} gq_export;

gq_status gq_export_write(const char *out_dir, const gq_export *x, gq_err *err);

#endif
