/*
 * model_int.h - the models module's private structures, shared by its .c
 * files only.
 */
#ifndef FT_MODEL_INT_H
#define FT_MODEL_INT_H

#include "ft_model.h"

/* Output heads, derived from the spec. */
enum { MODEL_HEAD_REG = 0, MODEL_HEAD_BIN = 1, MODEL_HEAD_SOFTMAX = 2 };

/* One dense layer: out = W in + b, W[out][in] row-major. */
typedef struct model_layer {
	size_t n_in, n_out;
	size_t w_off, b_off; /* offsets into the parameter vector */
	size_t a_off;        /* offset of this layer's output in the scratch */
} model_layer;

#define MODEL_MAX_LAYERS (FT_MODEL_MAX_HIDDEN + 1)

struct ft_model {
	ft_model_spec spec;
	int head;
	size_t n_layers;
	model_layer layer[MODEL_MAX_LAYERS];
	size_t n_params;
	size_t n_out;        /* outputs of the last layer */
	size_t max_width;    /* widest layer (inputs included) */
	float *params;
	/* Scratch for one row: every layer's output (post-activation), and two
	 * delta buffers of max_width for backpropagation. */
	float *act;
	size_t act_len;
	float *delta, *delta2;
};

/*
 * Forward pass of one row x through m; the outputs of every layer are left
 * in m->act (the last layer's raw outputs, before the head's link).
 */
void model_forward(ft_model *m, const float *x);

/*
 * Given the forward pass of row (x, y) in m->act, backpropagates dLoss/dz:
 * calls back for each layer from the last, with the layer's input
 * activation and its delta. The callback accumulates the gradient however
 * it likes (dense, or norm only). m->act is left unchanged.
 */
typedef void (*model_layer_fn)(void *ctx, const model_layer *L, const float *in,
                               const float *delta);
void model_backward(ft_model *m, const float *x, float y, model_layer_fn fn, void *ctx);

/* Loss of the forward pass in m->act against y (no gradients). */
double model_row_loss(const ft_model *m, float y);

/* Metadata: entries kept sorted by key (bytewise), which is also the
 * order of the canonical file encoding. */
typedef struct meta_entry {
	char *key;
	int type; /* ft_model_meta_type */
	char *str;
	int64_t i;
	double d;
} meta_entry;

struct ft_model_meta {
	size_t n;
	meta_entry e[FT_MODEL_META_MAX_ENTRIES];
};

#endif
