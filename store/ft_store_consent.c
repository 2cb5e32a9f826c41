/*
 * ft_store_consent.c - consent grant and withdrawal, and the training load
 * that honours it: only consented patients' records are selected (the
 * filter is in SQL, so withdrawn patients' records never reach memory), and
 * rows come grouped by patient, the unit of differential privacy.
 */
#include "ft_store.h"
#include "store_int.h"

#include <stdio.h>
#include <string.h>

#include "ft_crypto.h"

int ft_store_consent_set(ft_store *s, const char *patient_key, int granted, const char *actor,
                         ft_errmsg *err)
{
	sqlite3_stmt *st = NULL;
	int64_t patient = 0, now = store_wall_ms();
	int rv, rc;

	if (s == NULL || patient_key == NULL || *patient_key == '\0' ||
	    strlen(patient_key) > STORE_KEY_MAX)
		return ft_errmsg_set(err, FT_EINVAL, "a patient key of 1 to %d bytes is required",
		                     STORE_KEY_MAX);
	if (actor == NULL || *actor == '\0' || strlen(actor) > 128)
		return ft_errmsg_set(err, FT_EINVAL, "an actor of 1 to 128 bytes is required");
	if (granted != 0 && granted != 1)
		return ft_errmsg_set(err, FT_EINVAL, "granted must be 0 or 1");
	rv = store_begin_write(s, err);
	if (rv != FT_OK)
		return rv;
	rv = store_prepare(s, "SELECT id FROM patients WHERE patient_key = ?1", &st, err);
	if (rv != FT_OK)
		goto out;
	sqlite3_bind_text(st, 1, patient_key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		rv = ft_errmsg_set(err, FT_ENOTFOUND, "no patient '%.64s' in the store %.96s",
		                   patient_key, s->label);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		rv = store_db_fail(s, err, "cannot read patients");
		goto out;
	}
	patient = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;

	rv = store_prepare(s,
	                   "UPDATE patients SET consent = ?2, consent_changed_at_ms = ?3 "
	                   "WHERE id = ?1",
	                   &st, err);
	if (rv != FT_OK)
		goto out;
	sqlite3_bind_int64(st, 1, patient);
	sqlite3_bind_int(st, 2, granted);
	sqlite3_bind_int64(st, 3, now);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rv = store_db_fail(s, err, "cannot record consent");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;

	/* Every request is history, even one that changes nothing. */
	rv = store_prepare(s,
	                   "INSERT INTO consent_events (patient_id, granted, actor, at_ms) "
	                   "VALUES (?1, ?2, ?3, ?4)",
	                   &st, err);
	if (rv != FT_OK)
		goto out;
	sqlite3_bind_int64(st, 1, patient);
	sqlite3_bind_int(st, 2, granted);
	sqlite3_bind_text(st, 3, actor, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rv = store_db_fail(s, err, "cannot record the consent event");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	rv = store_commit(s, err);
out:
	sqlite3_finalize(st);
	if (rv != FT_OK)
		store_rollback(s);
	return rv;
}

int ft_store_consent_withdrawn_head(ft_store *s, int64_t *out, ft_errmsg *err)
{
	sqlite3_stmt *st = NULL;
	int rv;

	if (s == NULL || out == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "consent head: missing argument");
	rv = store_prepare(s, "SELECT coalesce(max(id), 0) FROM consent_events WHERE granted = 0",
	                   &st, err);
	if (rv != FT_OK)
		return rv;
	if (sqlite3_step(st) != SQLITE_ROW) {
		rv = store_db_fail(s, err, "cannot read the consent history");
		goto out;
	}
	*out = sqlite3_column_int64(st, 0);
out:
	sqlite3_finalize(st);
	return rv;
}

/* The dataset's id and feature names (n of them, caller frees). */
static int load_features(ft_store *s, const char *dataset, int64_t *id, size_t *n,
                         char ***names, ft_errmsg *err)
{
	sqlite3_stmt *st = NULL;
	char **v = NULL;
	size_t nf = 0, got = 0;
	int rv, rc;

	rv = store_prepare(s, "SELECT id, n_features FROM datasets WHERE name = ?1", &st, err);
	if (rv != FT_OK)
		return rv;
	sqlite3_bind_text(st, 1, dataset, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rv = rc == SQLITE_DONE ? ft_errmsg_set(err, FT_ENOTFOUND,
		                                       "no dataset '%.64s' in the store %.96s",
		                                       dataset, s->label)
		                       : store_db_fail(s, err, "cannot read datasets");
		goto out;
	}
	*id = sqlite3_column_int64(st, 0);
	if (sqlite3_column_int64(st, 1) < 1 ||
	    (uint64_t)sqlite3_column_int64(st, 1) > FT_STORE_CSV_MAX_COLUMNS) {
		rv = ft_errmsg_set(err, FT_EDB, "%.96s: dataset '%.64s' is corrupt", s->label, dataset);
		goto out;
	}
	nf = (size_t)sqlite3_column_int64(st, 1);
	sqlite3_finalize(st);
	st = NULL;

	v = ft_calloc(nf, sizeof(*v));
	if (v == NULL) {
		rv = ft_errmsg_set(err, FT_ENOMEM, "out of memory");
		goto out;
	}
	rv = store_prepare(s,
	                   "SELECT name FROM dataset_features WHERE dataset_id = ?1 "
	                   "ORDER BY position",
	                   &st, err);
	if (rv != FT_OK)
		goto out;
	sqlite3_bind_int64(st, 1, *id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && got < nf) {
		v[got] = ft_strdup((const char *)sqlite3_column_text(st, 0));
		if (v[got] == NULL) {
			rv = ft_errmsg_set(err, FT_ENOMEM, "out of memory");
			goto out;
		}
		got++;
	}
	if (got != nf || (rc != SQLITE_DONE && rc != SQLITE_ROW)) {
		rv = ft_errmsg_set(err, FT_EDB, "%.96s: dataset '%.64s' has %zu feature names, "
		                   "expected %zu", s->label, dataset, got, nf);
		goto out;
	}
	*n = nf;
	*names = v;
	v = NULL;
out:
	if (v != NULL) {
		for (size_t i = 0; i < nf; i++)
			ft_free(v[i]);
		ft_free(v);
	}
	sqlite3_finalize(st);
	return rv;
}

/* Consented records and patients, and patients excluded by consent. */
static int load_counts(ft_store *s, int64_t id, ft_store_load_stats *c, ft_errmsg *err)
{
	static const char sql[] =
		"SELECT"
		" (SELECT count(*) FROM records r JOIN patients p ON p.id = r.patient_id"
		"   WHERE r.dataset_id = ?1 AND p.consent = 1),"
		" (SELECT count(DISTINCT r.patient_id) FROM records r JOIN patients p"
		"   ON p.id = r.patient_id WHERE r.dataset_id = ?1 AND p.consent = 1),"
		" (SELECT count(DISTINCT r.patient_id) FROM records r JOIN patients p"
		"   ON p.id = r.patient_id WHERE r.dataset_id = ?1 AND p.consent = 0)";
	sqlite3_stmt *st = NULL;
	int rv = store_prepare(s, sql, &st, err);

	if (rv != FT_OK)
		return rv;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rv = store_db_fail(s, err, "cannot count records");
		goto out;
	}
	c->records_used = (size_t)sqlite3_column_int64(st, 0);
	c->patients_used = (size_t)sqlite3_column_int64(st, 1);
	c->patients_excluded = (size_t)sqlite3_column_int64(st, 2);
out:
	sqlite3_finalize(st);
	return rv;
}

/* Fills x, y and the unit boundaries from the consented records. */
static int load_rows(ft_store *s, const char *dataset, int64_t id, ft_model_dataset *ds,
                     size_t n_units, ft_errmsg *err)
{
	static const char sql[] =
		"SELECT r.patient_id, r.target, r.features FROM records r"
		" JOIN patients p ON p.id = r.patient_id"
		" WHERE r.dataset_id = ?1 AND p.consent = 1"
		" ORDER BY r.patient_id, r.id";
	sqlite3_stmt *st = NULL;
	size_t row = 0, unit = 0, nf = ds->n_features;
	int64_t prev = 0;
	int rv, rc;

	rv = store_prepare(s, sql, &st, err);
	if (rv != FT_OK)
		return rv;
	sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t patient = sqlite3_column_int64(st, 0);
		const uint8_t *blob = sqlite3_column_blob(st, 2);
		int len = sqlite3_column_bytes(st, 2);

		if (row == ds->n_rows || len < 0 || (size_t)len != 4 * nf ||
		    (row > 0 && patient < prev))
			break;
		if (row == 0 || patient != prev) {
			if (unit == n_units)
				break;
			ds->unit_offset[unit++] = row;
			prev = patient;
		}
		ds->y[row] = (float)sqlite3_column_double(st, 1);
		for (size_t i = 0; i < nf; i++) {
			uint32_t bits = ft_get_le32(blob + 4 * i);
			float f;

			memcpy(&f, &bits, sizeof(f));
			ds->x[row * nf + i] = f;
		}
		row++;
	}
	if (rc != SQLITE_DONE) {
		rv = rc == SQLITE_ROW
		             ? ft_errmsg_set(err, FT_EDB, "%.96s: dataset '%.64s' has a corrupt record",
		                             s->label, dataset)
		             : store_db_fail(s, err, "cannot read records");
		goto out;
	}
	if (row != ds->n_rows || unit != n_units) {
		rv = ft_errmsg_set(err, FT_EDB, "%.96s: dataset '%.64s' changed while loading",
		                   s->label, dataset);
		goto out;
	}
	ds->unit_offset[n_units] = row;
	ds->n_units = n_units;
out:
	sqlite3_finalize(st);
	return rv;
}

int ft_store_load_training(ft_store *s, const char *dataset, ft_model_dataset **out,
                           ft_store_load_stats *stats, ft_errmsg *err)
{
	ft_model_dataset *ds = NULL;
	ft_store_load_stats c = { 0 };
	char **names = NULL;
	size_t nf = 0;
	int64_t id = 0;
	int rv;

	if (s == NULL || dataset == NULL || out == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "invalid argument");
	/* One snapshot: counts, rows and units cannot disagree. */
	rv = store_begin_read(s, err);
	if (rv != FT_OK)
		return rv;
	rv = load_features(s, dataset, &id, &nf, &names, err);
	if (rv != FT_OK)
		goto out;
	rv = load_counts(s, id, &c, err);
	if (rv != FT_OK)
		goto out;
	rv = ft_model_dataset_alloc(c.records_used, nf, &ds);
	if (rv != FT_OK) {
		rv = ft_errmsg_set(err, rv, "dataset '%.64s': %zu records of %zu features: %s",
		                   dataset, c.records_used, nf, ft_strerror(rv));
		goto out;
	}
	rv = load_rows(s, dataset, id, ds, c.patients_used, err);
	if (rv != FT_OK)
		goto out;
	ds->feature_names = names;
	names = NULL;
	rv = store_commit(s, err);
	if (rv != FT_OK)
		goto out;
	*out = ds;
	ds = NULL;
	if (stats != NULL)
		*stats = c;
out:
	if (rv != FT_OK)
		store_rollback(s);
	if (names != NULL) {
		for (size_t i = 0; i < nf; i++)
			ft_free(names[i]);
		ft_free(names);
	}
	if (ds != NULL && ds->x != NULL)
		ft_crypto_wipe(ds->x, ds->n_rows * ds->n_features * sizeof(float));
	ft_model_dataset_free(ds);
	return rv;
}
