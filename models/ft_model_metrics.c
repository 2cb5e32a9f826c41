/*
 * ft_model_metrics.c - evaluation metrics: accuracy, AUC-ROC (average ranks
 * for ties), log loss, RMSE and MAE, and ft_model_evaluate, which applies
 * the ones that fit a model's head.
 */
#include "model_int.h"

#include <math.h>
#include <stdlib.h>

int ft_model_metric_accuracy(const float *y_true, const float *y_pred, size_t n, double *out)
{
	size_t hit = 0;

	if (y_true == NULL || y_pred == NULL || out == NULL || n == 0)
		return FT_EINVAL;
	for (size_t i = 0; i < n; i++)
		hit += y_true[i] == y_pred[i];
	*out = (double)hit / (double)n;
	return FT_OK;
}

typedef struct scored {
	float s;
	float y;
} scored;

static int cmp_scored(const void *a, const void *b)
{
	float x = ((const scored *)a)->s, y = ((const scored *)b)->s;

	return (x > y) - (x < y);
}

int ft_model_metric_auc(const float *y_true, const float *score, size_t n, double *out)
{
	scored *v = NULL;
	double rank_sum = 0, n_pos = 0, n_neg;
	int rv = FT_EINVAL;

	if (y_true == NULL || score == NULL || out == NULL || n == 0)
		return FT_EINVAL;
	for (size_t i = 0; i < n; i++) {
		if ((y_true[i] != 0.0f && y_true[i] != 1.0f) || !isfinite(score[i]))
			return FT_EINVAL;
		n_pos += y_true[i];
	}
	n_neg = (double)n - n_pos;
	if (n_pos == 0 || n_neg == 0)
		return FT_EINVAL;
	v = ft_mallocarray(n, sizeof(*v));
	if (v == NULL)
		return FT_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		v[i].s = score[i];
		v[i].y = y_true[i];
	}
	qsort(v, n, sizeof(*v), cmp_scored);
	/* Ranks are 1-based; a run of equal scores [i, j) shares the average
	 * rank (i + 1 + j) / 2. */
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		double pos = v[i].y;

		while (j < n && v[j].s == v[i].s)
			pos += v[j++].y;
		rank_sum += pos * (double)(i + 1 + j) / 2.0;
		i = j;
	}
	*out = (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg);
	rv = FT_OK;
	ft_free(v);
	return rv;
}

int ft_model_metric_logloss(const float *y_true, const float *probs, size_t n, size_t k,
                            double *out)
{
	double total = 0;

	if (y_true == NULL || probs == NULL || out == NULL || n == 0 || k < 2)
		return FT_EINVAL;
	for (size_t i = 0; i < n; i++) {
		float y = y_true[i];
		double p;

		if (!(y >= 0) || y >= (float)k || y != floorf(y))
			return FT_EINVAL;
		p = probs[i * k + (size_t)y];
		if (!(p >= 0) || p > 1.0 + 1e-6)
			return FT_EINVAL;
		if (p < 1e-15)
			p = 1e-15;
		if (p > 1)
			p = 1;
		total -= log(p);
	}
	*out = total / (double)n;
	return FT_OK;
}

static int errors(const float *y_true, const float *y_pred, size_t n, double *sq, double *ab)
{
	double s = 0, a = 0;

	if (y_true == NULL || y_pred == NULL || n == 0)
		return FT_EINVAL;
	for (size_t i = 0; i < n; i++) {
		double d = (double)y_true[i] - y_pred[i];

		if (!isfinite(d))
			return FT_EINVAL;
		s += d * d;
		a += fabs(d);
	}
	*sq = s / (double)n;
	*ab = a / (double)n;
	return FT_OK;
}

int ft_model_metric_rmse(const float *y_true, const float *y_pred, size_t n, double *out)
{
	double sq, ab;
	int rv;

	if (out == NULL)
		return FT_EINVAL;
	rv = errors(y_true, y_pred, n, &sq, &ab);
	if (rv == FT_OK)
		*out = sqrt(sq);
	return rv;
}

int ft_model_metric_mae(const float *y_true, const float *y_pred, size_t n, double *out)
{
	double sq, ab;
	int rv;

	if (out == NULL)
		return FT_EINVAL;
	rv = errors(y_true, y_pred, n, &sq, &ab);
	if (rv == FT_OK)
		*out = ab;
	return rv;
}

int ft_model_evaluate(ft_model *m, const ft_model_dataset *ds, ft_model_eval *out, ft_errmsg *err)
{
	ft_model_eval ev = { NAN, NAN, NAN, NAN, NAN };
	float *pred = NULL, *label = NULL;
	size_t k;
	int rv;

	if (m == NULL || out == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "no model or output");
	rv = ft_model_dataset_check(ds, &m->spec, err);
	if (rv != FT_OK)
		return rv;
	if (ds->n_rows == 0)
		return ft_errmsg_set(err, FT_EINVAL, "empty dataset");
	k = ft_model_n_outputs(m);
	rv = FT_ENOMEM;
	pred = ft_mallocarray(ds->n_rows, k * sizeof(float));
	label = ft_mallocarray(ds->n_rows, sizeof(float));
	if (pred == NULL || label == NULL)
		goto out;
	rv = ft_model_predict_dataset(m, ds, pred, ds->n_rows * k, err);
	if (rv != FT_OK)
		goto out;
	if (m->head == MODEL_HEAD_REG) {
		rv = ft_model_metric_rmse(ds->y, pred, ds->n_rows, &ev.rmse);
		if (rv == FT_OK)
			rv = ft_model_metric_mae(ds->y, pred, ds->n_rows, &ev.mae);
		goto done;
	}
	for (size_t r = 0; r < ds->n_rows; r++) {
		size_t best = 0;

		for (size_t j = 1; j < k; j++)
			if (pred[r * k + j] > pred[r * k + best])
				best = j;
		label[r] = (float)best;
	}
	rv = ft_model_metric_accuracy(ds->y, label, ds->n_rows, &ev.accuracy);
	if (rv == FT_OK)
		rv = ft_model_metric_logloss(ds->y, pred, ds->n_rows, k, &ev.logloss);
	if (rv == FT_OK && k == 2) {
		/* Reuse label[] for the positive-class scores. */
		for (size_t r = 0; r < ds->n_rows; r++)
			label[r] = pred[r * 2 + 1];
		rv = ft_model_metric_auc(ds->y, label, ds->n_rows, &ev.auc);
		if (rv == FT_EINVAL) {
			/* One class absent: AUC is undefined, the rest stands. */
			ev.auc = NAN;
			rv = FT_OK;
		}
	}
done:
	if (rv != FT_OK) {
		ft_errmsg_set(err, rv, "evaluation failed: %s", ft_strerror(rv));
		goto out;
	}
	*out = ev;
out:
	ft_free(pred);
	ft_free(label);
	return rv;
}
