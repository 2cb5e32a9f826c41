/*
 * fuzz_audit_payload.c - libFuzzer target for the audit log's payload
 * parser (audit_json_parse). Any input must either be rejected or be
 * exactly the canonical text that the payload builder writes for the
 * values parsed from it: one text per value set, so an accepted payload
 * cannot have a second spelling with the same meaning.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ft_audit.h"
#include "audit_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Adds one parsed value to the builder; 0 if it cannot be rebuilt (a mixed
 * or signed array), 1 if added. Aborts on a builder refusal. */
static int rebuild(ft_audit_json *j, const char *key, const audit_jval *v)
{
	int64_t i;
	uint64_t u;
	double d;

	switch (v->kind) {
	case AUDIT_J_STR:
		if (ft_audit_json_str(j, key, v->str) != FT_OK)
			abort();
		return 1;
	case AUDIT_J_BOOL:
		if (ft_audit_json_bool(j, key, v->boolean) != FT_OK)
			abort();
		return 1;
	case AUDIT_J_NUM:
		if (ft_parse_i64(v->str, INT64_MIN, INT64_MAX, &i) == FT_OK) {
			if (ft_audit_json_i64(j, key, i) != FT_OK)
				abort();
		} else if (ft_parse_u64(v->str, UINT64_MAX, &u) == FT_OK) {
			if (ft_audit_json_u64(j, key, u) != FT_OK)
				abort();
		} else if (ft_parse_double(v->str, &d) != FT_OK || ft_audit_json_double(j, key, d) != FT_OK) {
			abort();
		}
		return 1;
	case AUDIT_J_ARRAY: {
		const char **strs = calloc(v->n_items + 1, sizeof(*strs));
		uint64_t *nums = calloc(v->n_items + 1, sizeof(*nums));
		size_t ns = 0, nn = 0;
		int ok = 0;

		if (strs == NULL || nums == NULL)
			abort();
		for (size_t k = 0; k < v->n_items; k++) {
			if (v->items[k].kind == AUDIT_J_STR)
				strs[ns++] = v->items[k].str;
			else if (ft_parse_u64(v->items[k].str, UINT64_MAX, &nums[nn]) == FT_OK)
				nn++;
		}
		if (ns == v->n_items) {
			if (ft_audit_json_str_array(j, key, strs, ns) != FT_OK)
				abort();
			ok = 1;
		} else if (nn == v->n_items) {
			if (ft_audit_json_u64_array(j, key, nums, nn) != FT_OK)
				abort();
			ok = 1;
		}
		free(strs);
		free(nums);
		return ok;
	}
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ft_audit_json *j = NULL;
	audit_jobj o;
	char *text = NULL;
	size_t len = 0;
	int all = 1;

	if (audit_json_parse((const char *)data, size, &o, NULL) != FT_OK)
		return 0;
	if (ft_audit_json_new(&j) != FT_OK)
		abort();
	for (size_t i = 0; i < o.n && all; i++)
		all = rebuild(j, o.keys[i], &o.vals[i]);
	if (all) {
		if (ft_audit_json_finish(j, &text, &len) != FT_OK)
			abort();
		if (len != size || memcmp(text, data, size) != 0)
			abort(); /* accepted a non-canonical spelling */
		ft_free(text);
	}
	ft_audit_json_free(j);
	audit_jobj_clear(&o);
	return 0;
}
