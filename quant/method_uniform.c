/* uniform: plain quantization, nothing kept in FP32 (no score function: the session
 * protects nothing whatever the budget). */
#include "quant_method.h"

const gq_method gq_method_uniform = {.name = "uniform", .needs_calibration = 0, .opts = NULL, .score = NULL};
