/* testenc: the encoder fixtures of tests/fixtures/encoders (made by
 * tests/fixtures/gen/gen_encoder_refs.py with transformers), for the tests that run them:
 * test_encoders on the CPU, test_cuda on a GPU. */
#ifndef GQ_TESTENC_H
#define GQ_TESTENC_H

#include "encoder.h"
#include "testlib.h"

/* The directory of fixture `name`: tests/fixtures/encoders/NAME, or $GLUEQ_ENCODER_FIXTURES/NAME
 * where the tests run on another copy of the tree. Caller frees. */
char *gq_test_encoder_dir(const char *name);

/* The fixture's model (a failed check and NULL when it does not load). */
gq_encoder *gq_test_encoder_load(gq_test_ctx *t, const char *name);

/* Sequences of a fixture's expected.safetensors and transformers' logits of them: prefix ""
 * for the token-id sequences (ids, lens, seg_a, logits), "text_" for the texts through
 * transformers' tokenizer (text_ids, ...). */
typedef struct {
    gq_ckpt *ck;  /* expected.safetensors */
    int n;        /* sequences */
    int32_t *ids; /* concatenated */
    int *lens, *seg_a;
    const float *logits; /* (n, n_labels) */
} gq_test_sequences;

/* Loads them (exits the test when the file or a tensor is missing); free with
 * gq_test_sequences_free. */
void gq_test_sequences_load(gq_test_ctx *t, const char *fixture, const char *prefix, gq_test_sequences *s);
void gq_test_sequences_free(gq_test_sequences *s);

/* The logits of s batched through r with hooks hk (may be NULL); malloc'd, caller frees. */
float *gq_test_encoder_logits(gq_test_ctx *t, gq_encoder_runner *r, const gq_test_sequences *s,
                              const gq_encoder_hooks *hk);

/* Runs s through r with a hook on the hidden states and compares every hidden_states.K.I of
 * the references (sequence K, state I: 0 the embeddings, i block i) within atol; then the
 * logits of that forward (every block on every row) within logit_atol. */
void gq_test_encoder_hidden(gq_test_ctx *t, const char *what, gq_encoder_runner *r, const gq_test_sequences *s,
                            double atol, double logit_atol);

#endif
