/* families: the encoder families glueq runs, one table entry each (encoder.h). Everything
 * else (config parsing, binding, the CPU and CUDA forwards, quantization, export) reads
 * these entries; docs/models.md says what adding one takes. */
#include "encoder.h"

#include <string.h>

/* HF's DistilBertForSequenceClassification: LayerNorm eps fixed at 1e-12, no token types. */
static const gq_encoder_family DISTILBERT = {
    .model_type = "distilbert",
    .architecture = "DistilBertForSequenceClassification",
    .key_dim = "dim", .key_layers = "n_layers", .key_heads = "n_heads", .key_hidden = "hidden_dim",
    .key_act = "activation",
    .positions = GQ_POS_INDEX,
    .embeddings = "distilbert.embeddings",
    .layer = "distilbert.transformer.layer",
    .lin = {"attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin", "ffn.lin1", "ffn.lin2"},
    .ln_attn = "sa_layer_norm", .ln_ffn = "output_layer_norm",
    .head_dense = "pre_classifier", .head_out = "classifier",
    .head_act = GQ_HEAD_RELU,
};

/* BERT's block names, which RoBERTa keeps. */
#define BERT_BLOCK                                                                                           \
    .key_dim = "hidden_size", .key_layers = "num_hidden_layers", .key_heads = "num_attention_heads",         \
    .key_hidden = "intermediate_size", .key_act = "hidden_act", .has_eps = 1, .token_types = 1,              \
    .lin = {"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense", \
            "intermediate.dense", "output.dense"},                                                           \
    .ln_attn = "attention.output.LayerNorm", .ln_ffn = "output.LayerNorm", .head_act = GQ_HEAD_TANH

/* HF's BertForSequenceClassification: the pooler (dense + tanh on [CLS]), then the classifier. */
static const gq_encoder_family BERT = {
    .model_type = "bert",
    .architecture = "BertForSequenceClassification",
    BERT_BLOCK,
    .segment_types = 1,
    .positions = GQ_POS_INDEX,
    .embeddings = "bert.embeddings",
    .layer = "bert.encoder.layer",
    .head_dense = "bert.pooler.dense", .head_out = "classifier",
};

/* HF's RobertaForSequenceClassification: positions after padding_idx, one token type, the
 * classification head (dense + tanh on <s>, then out_proj). */
static const gq_encoder_family ROBERTA = {
    .model_type = "roberta",
    .architecture = "RobertaForSequenceClassification",
    BERT_BLOCK,
    .positions = GQ_POS_AFTER_PAD,
    .default_pad_id = 1,
    .embeddings = "roberta.embeddings",
    .layer = "roberta.encoder.layer",
    .head_dense = "classifier.dense", .head_out = "classifier.out_proj",
};

const gq_encoder_family *const gq_encoder_families[] = {&DISTILBERT, &BERT, &ROBERTA, NULL};

const gq_encoder_family *gq_encoder_family_find(const char *model_type) {
    for (int i = 0; gq_encoder_families[i]; i++)
        if (strcmp(gq_encoder_families[i]->model_type, model_type) == 0) return gq_encoder_families[i];
    return NULL;
}
