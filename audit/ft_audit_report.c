/*
 * ft_audit_report.c - what an auditor reads: the self-contained HTML report
 * (verification status, per-site privacy ledger with an inline SVG chart,
 * rounds and participants, bytes that left each site per message type), the
 * same facts as JSON, and the JSON-lines export of every entry.
 *
 * Only the verified prefix of each log is read: an entry after the first bad
 * one is not evidence of anything. Every string from a log is escaped
 * (HTML or JSON) where it is written; the page loads nothing from anywhere.
 */
#include "ft_audit.h"
#include "audit_int.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <time.h>

/* ---- Collected facts ------------------------------------------------------ */

typedef struct rp_spend {
	char *site, *run, *from;
	uint64_t round;
	int own;          /* recorded by the site itself */
	double eps_round, eps_run, eps_total, delta, max_run, max_total;
	int64_t t;
} rp_spend;

typedef struct rp_round {
	char *actor, *run, *selected, *status, *included, *dropped;
	uint64_t round, threshold;
} rp_round;

typedef struct rp_msg {
	char *actor, *type;
	int received;
	uint64_t count, min, max, total;
} rp_msg;

typedef struct rp_train {
	char *actor, *run;
	uint64_t round, patients, records, steps;
	double q, sigma, clip;
} rp_train;

typedef struct rp_refuse {
	char *actor, *run, *reason;
	uint64_t round;
	int has_run;
} rp_refuse;

typedef struct rp_policy {
	char *site;
	double max_run, max_total, delta;
} rp_policy;

typedef struct rp_data {
	rp_spend *spends;
	size_t n_spends;
	rp_round *rounds;
	size_t n_rounds;
	rp_msg *msgs;
	size_t n_msgs;
	rp_train *trains;
	size_t n_trains;
	rp_refuse *refusals;
	size_t n_refusals;
	rp_policy *policies;
	size_t n_policies;
	int failed; /* FT_ENOMEM once an allocation failed */
} rp_data;

/* Grows *arr by one zeroed element; NULL (and d->failed) on failure. */
static void *rp_push(rp_data *d, void **arr, size_t *n, size_t size)
{
	unsigned char *p;

	if (d->failed)
		return NULL;
	p = ft_reallocarray(*arr, *n + 1, size);
	if (p == NULL) {
		d->failed = FT_ENOMEM;
		return NULL;
	}
	*arr = p;
	memset(p + *n * size, 0, size);
	return p + (*n)++ * size;
}

static char *rp_dup(rp_data *d, const char *s)
{
	char *c;

	if (s == NULL)
		s = "";
	c = ft_strdup(s);
	if (c == NULL)
		d->failed = FT_ENOMEM;
	return c;
}

/* The items of a string array joined with ", ". */
static char *rp_join(rp_data *d, const audit_jval *v)
{
	size_t len = 1;
	char *s;

	if (v == NULL || v->kind != AUDIT_J_ARRAY)
		return rp_dup(d, "");
	for (size_t i = 0; i < v->n_items; i++)
		len += strlen(v->items[i].str) + 2;
	s = ft_malloc(len);
	if (s == NULL) {
		d->failed = FT_ENOMEM;
		return NULL;
	}
	len = 0;
	for (size_t i = 0; i < v->n_items; i++) {
		size_t k = strlen(v->items[i].str);

		if (i > 0) {
			memcpy(s + len, ", ", 2);
			len += 2;
		}
		memcpy(s + len, v->items[i].str, k);
		len += k;
	}
	s[len] = '\0';
	return s;
}

static uint64_t rp_u64(const audit_jobj *o, const char *key)
{
	uint64_t u = 0;

	if (audit_jobj_u64(o, key, &u) != FT_OK)
		return 0;
	return u;
}

static void rp_free(rp_data *d)
{
	for (size_t i = 0; i < d->n_spends; i++) {
		ft_free(d->spends[i].site);
		ft_free(d->spends[i].run);
		ft_free(d->spends[i].from);
	}
	for (size_t i = 0; i < d->n_rounds; i++) {
		rp_round *r = &d->rounds[i];

		ft_free(r->actor);
		ft_free(r->run);
		ft_free(r->selected);
		ft_free(r->status);
		ft_free(r->included);
		ft_free(r->dropped);
	}
	for (size_t i = 0; i < d->n_msgs; i++) {
		ft_free(d->msgs[i].actor);
		ft_free(d->msgs[i].type);
	}
	for (size_t i = 0; i < d->n_trains; i++) {
		ft_free(d->trains[i].actor);
		ft_free(d->trains[i].run);
	}
	for (size_t i = 0; i < d->n_refusals; i++) {
		ft_free(d->refusals[i].actor);
		ft_free(d->refusals[i].run);
		ft_free(d->refusals[i].reason);
	}
	for (size_t i = 0; i < d->n_policies; i++)
		ft_free(d->policies[i].site);
	ft_free(d->spends);
	ft_free(d->rounds);
	ft_free(d->msgs);
	ft_free(d->trains);
	ft_free(d->refusals);
	ft_free(d->policies);
	memset(d, 0, sizeof(*d));
}

static void rp_spend_add(rp_data *d, const char *actor, const audit_jobj *o, int64_t t)
{
	const char *site = audit_jobj_str(o, "site"), *run = audit_jobj_str(o, "run");
	uint64_t round = rp_u64(o, "round");
	int own;
	rp_spend *s = NULL;

	if (site == NULL || run == NULL)
		return;
	own = strcmp(site, actor) == 0;
	/* The same charge may appear in the site's and the coordinator's log:
	 * count it once, preferring the site's own record. */
	for (size_t i = 0; i < d->n_spends; i++) {
		rp_spend *x = &d->spends[i];

		if (strcmp(x->site, site) == 0 && strcmp(x->run, run) == 0 && x->round == round) {
			if (x->own || !own)
				return;
			s = x;
			break;
		}
	}
	if (s == NULL) {
		s = rp_push(d, (void **)&d->spends, &d->n_spends, sizeof(*s));
		if (s == NULL)
			return;
		s->site = rp_dup(d, site);
		s->run = rp_dup(d, run);
	} else {
		ft_free(s->from);
	}
	s->from = rp_dup(d, actor);
	s->own = own;
	s->round = round;
	s->t = t;
	s->eps_round = audit_jobj_num(o, "eps_round", NAN);
	s->eps_run = audit_jobj_num(o, "eps_run", NAN);
	s->eps_total = audit_jobj_num(o, "eps_total", NAN);
	s->delta = audit_jobj_num(o, "delta", NAN);
	s->max_run = audit_jobj_num(o, "max_eps_run", NAN);
	s->max_total = audit_jobj_num(o, "max_eps_total", NAN);
}

static rp_round *rp_round_get(rp_data *d, const char *actor, const char *run, uint64_t round)
{
	rp_round *r;

	for (size_t i = 0; i < d->n_rounds; i++)
		if (d->rounds[i].round == round && strcmp(d->rounds[i].actor, actor) == 0 &&
		    strcmp(d->rounds[i].run, run) == 0)
			return &d->rounds[i];
	r = rp_push(d, (void **)&d->rounds, &d->n_rounds, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->actor = rp_dup(d, actor);
	r->run = rp_dup(d, run);
	r->round = round;
	return r;
}

static void rp_msg_add(rp_data *d, const char *actor, int received, const audit_jobj *o)
{
	const char *type = audit_jobj_str(o, "msg_type");
	uint64_t size = rp_u64(o, "size");
	rp_msg *m = NULL;

	if (type == NULL)
		return;
	for (size_t i = 0; i < d->n_msgs && m == NULL; i++)
		if (d->msgs[i].received == received && strcmp(d->msgs[i].type, type) == 0 &&
		    strcmp(d->msgs[i].actor, actor) == 0)
			m = &d->msgs[i];
	if (m == NULL) {
		m = rp_push(d, (void **)&d->msgs, &d->n_msgs, sizeof(*m));
		if (m == NULL)
			return;
		m->actor = rp_dup(d, actor);
		m->type = rp_dup(d, type);
		m->received = received;
		m->min = UINT64_MAX;
	}
	m->count++;
	m->total += size;
	if (size < m->min)
		m->min = size;
	if (size > m->max)
		m->max = size;
}

static void rp_entry(rp_data *d, const char *actor, const char *type, const audit_jobj *o,
                     int64_t t)
{
	if (strcmp(type, "privacy.spend") == 0) {
		rp_spend_add(d, actor, o, t);
	} else if (strcmp(type, "round.start") == 0 || strcmp(type, "round.end") == 0) {
		const char *run = audit_jobj_str(o, "run");
		rp_round *r = run != NULL ? rp_round_get(d, actor, run, rp_u64(o, "round")) : NULL;

		if (r == NULL)
			return;
		if (type[6] == 's') {
			ft_free(r->selected);
			r->selected = rp_join(d, audit_jobj_get(o, "sites"));
			r->threshold = rp_u64(o, "threshold");
		} else {
			ft_free(r->status);
			ft_free(r->included);
			ft_free(r->dropped);
			r->status = rp_dup(d, audit_jobj_str(o, "status"));
			r->included = rp_join(d, audit_jobj_get(o, "included"));
			r->dropped = rp_join(d, audit_jobj_get(o, "dropped"));
		}
	} else if (strcmp(type, "msg.sent") == 0 || strcmp(type, "msg.received") == 0) {
		rp_msg_add(d, actor, type[4] == 'r', o);
	} else if (strcmp(type, "train.local") == 0) {
		rp_train *tr = rp_push(d, (void **)&d->trains, &d->n_trains, sizeof(*tr));

		if (tr == NULL)
			return;
		tr->actor = rp_dup(d, actor);
		tr->run = rp_dup(d, audit_jobj_str(o, "run"));
		tr->round = rp_u64(o, "round");
		tr->patients = rp_u64(o, "patients");
		tr->records = rp_u64(o, "records");
		tr->steps = rp_u64(o, "steps");
		tr->q = audit_jobj_num(o, "q", NAN);
		tr->sigma = audit_jobj_num(o, "sigma", NAN);
		tr->clip = audit_jobj_num(o, "clip", NAN);
	} else if (strcmp(type, "policy.refuse") == 0) {
		rp_refuse *rf = rp_push(d, (void **)&d->refusals, &d->n_refusals, sizeof(*rf));

		if (rf == NULL)
			return;
		rf->actor = rp_dup(d, actor);
		rf->has_run = audit_jobj_str(o, "run") != NULL;
		rf->run = rp_dup(d, audit_jobj_str(o, "run"));
		rf->round = rp_u64(o, "round");
		rf->reason = rp_dup(d, audit_jobj_str(o, "reason"));
	} else if (strcmp(type, "policy.set") == 0) {
		rp_policy *p = NULL;

		for (size_t i = 0; i < d->n_policies && p == NULL; i++)
			if (strcmp(d->policies[i].site, actor) == 0)
				p = &d->policies[i];
		if (p == NULL) {
			p = rp_push(d, (void **)&d->policies, &d->n_policies, sizeof(*p));
			if (p == NULL)
				return;
			p->site = rp_dup(d, actor);
		}
		p->max_run = audit_jobj_num(o, "max_eps_run", NAN);
		p->max_total = audit_jobj_num(o, "max_eps_total", NAN);
		p->delta = audit_jobj_num(o, "delta", NAN);
	}
}

/* Reads the first `limit` entries of the log (its verified prefix). */
static int rp_collect(rp_data *d, const char *path, uint64_t limit, ft_errmsg *err)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	audit_entry e;
	audit_jobj o;
	int rv, rc;

	memset(&o, 0, sizeof(o));
	if (limit == 0)
		return FT_OK;
	rv = audit_db_open_ro(path, &db, err);
	if (rv != FT_OK)
		return rv;
	if (sqlite3_prepare_v2(db, "SELECT " AUDIT_ENTRY_COLUMNS " FROM entries WHERE seq <= ? "
	                       "ORDER BY seq", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 1, (sqlite3_int64)limit) != SQLITE_OK) {
		rv = ft_errmsg_set(err, FT_EDB, "%.96s: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	for (;;) {
		char type[FT_AUDIT_ID_MAX + 1], actor[FT_AUDIT_ID_MAX + 1];

		rc = audit_db_next(st, &e, err);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			rv = rc;
			goto out;
		}
		if (e.type_len > FT_AUDIT_ID_MAX || e.actor_len > FT_AUDIT_ID_MAX)
			continue;
		memcpy(type, e.type, e.type_len);
		type[e.type_len] = '\0';
		memcpy(actor, e.actor, e.actor_len);
		actor[e.actor_len] = '\0';
		rv = audit_json_parse(e.payload, e.payload_len, &o, err);
		if (rv != FT_OK)
			goto out;
		rp_entry(d, actor, type, &o, e.time_ms);
		audit_jobj_clear(&o);
		if (d->failed) {
			rv = ft_errmsg_set(err, d->failed, "out of memory");
			goto out;
		}
	}
out:
	audit_jobj_clear(&o);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rv;
}

static int rp_collect_all(rp_data *d, const char *const *paths, size_t n,
                          const ft_audit_verify_result *vres, ft_errmsg *err)
{
	for (size_t i = 0; i < n; i++) {
		int rv = rp_collect(d, paths[i], vres[i].entries, err);

		if (rv != FT_OK)
			return rv;
	}
	return FT_OK;
}

/* The distinct sites of the ledger, in order of first appearance. */
static size_t rp_sites(const rp_data *d, const char **out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < d->n_spends; i++) {
		size_t k = 0;

		while (k < n && strcmp(out[k], d->spends[i].site) != 0)
			k++;
		if (k == n && n < max)
			out[n++] = d->spends[i].site;
	}
	for (size_t i = 0; i < d->n_policies; i++) {
		size_t k = 0;

		while (k < n && strcmp(out[k], d->policies[i].site) != 0)
			k++;
		if (k == n && n < max)
			out[n++] = d->policies[i].site;
	}
	return n;
}

#define RP_SITES_MAX 1024

/* The site's policy: its own policy.set, else the limits in its last spend. */
static void rp_site_policy(const rp_data *d, const char *site, double *max_run,
                           double *max_total)
{
	*max_run = NAN;
	*max_total = NAN;
	for (size_t i = 0; i < d->n_spends; i++)
		if (strcmp(d->spends[i].site, site) == 0) {
			*max_run = d->spends[i].max_run;
			*max_total = d->spends[i].max_total;
		}
	for (size_t i = 0; i < d->n_policies; i++)
		if (strcmp(d->policies[i].site, site) == 0) {
			*max_run = d->policies[i].max_run;
			*max_total = d->policies[i].max_total;
		}
}

/* Lifetime and worst per-run spend of a site. */
static void rp_site_spend(const rp_data *d, const char *site, double *total, double *worst_run,
                          size_t *rounds)
{
	*total = 0;
	*worst_run = 0;
	*rounds = 0;
	for (size_t i = 0; i < d->n_spends; i++) {
		const rp_spend *s = &d->spends[i];

		if (strcmp(s->site, site) != 0)
			continue;
		(*rounds)++;
		if (!(s->eps_total <= *total))
			*total = s->eps_total;
		if (!(s->eps_run <= *worst_run))
			*worst_run = s->eps_run;
	}
}

/* ---- HTML ------------------------------------------------------------------ */

static void html_esc(FILE *f, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fputc(*s, f); break;
		}
	}
}

static void html_num(FILE *f, double v)
{
	if (isnan(v))
		fputs("&ndash;", f);
	else
		fprintf(f, "%.4g", v);
}

static const char html_style[] =
	"body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;"
	"margin:2em auto;max-width:1100px;padding:0 1em;color:#1d2430;line-height:1.45}"
	"h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:2px solid #dde3ea;"
	"padding-bottom:.2em}h3{margin-bottom:.3em}"
	"table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.92em}"
	"th,td{border:1px solid #cfd6df;padding:.3em .6em;text-align:left;vertical-align:top}"
	"th{background:#eef2f6}td.n{text-align:right;font-variant-numeric:tabular-nums}"
	".ok{color:#0a6b2d;font-weight:600}.bad{color:#b3141b;font-weight:600}"
	".mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em;word-break:break-all}"
	".site{border:1px solid #dde3ea;border-radius:6px;padding:.4em 1em 1em;margin:1em 0}"
	".note{color:#4a5568;font-size:.92em}svg text{font-size:11px;fill:#333}";

/* Line chart of the site's cumulative epsilon over its charged rounds, with
 * the policy's lifetime limit. */
static void html_chart(FILE *f, const rp_data *d, const char *site, double max_total)
{
	const double W = 640, H = 230, L = 52, R = 16, T = 14, B = 34;
	double ymax = isnan(max_total) ? 0 : max_total;
	size_t n = 0, k = 0;

	for (size_t i = 0; i < d->n_spends; i++)
		if (strcmp(d->spends[i].site, site) == 0) {
			n++;
			if (d->spends[i].eps_total > ymax)
				ymax = d->spends[i].eps_total;
		}
	if (n == 0)
		return;
	if (!(ymax > 0))
		ymax = 1;
	ymax *= 1.1;
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
	           "viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"cumulative epsilon of ",
	        W, H, W, H);
	html_esc(f, site);
	fputs(" by round\">", f);
	fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"#fafbfc\" "
	           "stroke=\"#cfd6df\"/>",
	        L, T, W - L - R, H - T - B);
	for (int g = 0; g <= 4; g++) {
		double v = ymax * g / 4, y = H - B - (H - T - B) * g / 4;

		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e3e8ee\"/>",
		        L, y, W - R, y);
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>", L - 6,
		        y + 4, v);
	}
	if (!isnan(max_total)) {
		double y = H - B - (H - T - B) * (max_total / ymax);

		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#b3141b\" "
		           "stroke-dasharray=\"6 4\"/>",
		        L, y, W - R, y);
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#b3141b\">policy "
		           "limit %.4g</text>",
		        W - R - 4, y - 4, max_total);
	}
	fputs("<polyline fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"2\" points=\"", f);
	for (size_t i = 0; i < d->n_spends; i++) {
		const rp_spend *s = &d->spends[i];
		double x, y;

		if (strcmp(s->site, site) != 0)
			continue;
		x = L + (W - L - R) * (n > 1 ? (double)k / (double)(n - 1) : 0.5);
		y = H - B - (H - T - B) * (isnan(s->eps_total) ? 0 : s->eps_total / ymax);
		fprintf(f, "%s%.1f,%.1f", k > 0 ? " " : "", x, y);
		k++;
	}
	fputs("\"/>", f);
	k = 0;
	for (size_t i = 0; i < d->n_spends; i++) {
		const rp_spend *s = &d->spends[i];
		double x, y;

		if (strcmp(s->site, site) != 0)
			continue;
		x = L + (W - L - R) * (n > 1 ? (double)k / (double)(n - 1) : 0.5);
		y = H - B - (H - T - B) * (isnan(s->eps_total) ? 0 : s->eps_total / ymax);
		fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#1f5fbf\"><title>", x, y);
		html_esc(f, s->run);
		fprintf(f, " round %" PRIu64 ": total epsilon %.4g</title></circle>", s->round,
		        s->eps_total);
		if (k == 0 || k + 1 == n || n <= 12) {
			fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%" PRIu64 "</text>",
			        x, H - B + 15, s->round);
		}
		k++;
	}
	fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">charged rounds (round "
	           "number)</text>",
	        L + (W - L - R) / 2, H - 4);
	fputs("</svg>", f);
}

static void html_ledger(FILE *f, const rp_data *d)
{
	const char *sites[RP_SITES_MAX];
	size_t n = rp_sites(d, sites, RP_SITES_MAX);

	fputs("<h2>Privacy ledger per site</h2>", f);
	fputs("<p class=\"note\">Epsilon is the differential-privacy loss of the site's patients "
	      "(lower is more private), stated at the site policy's delta. Each row is a charge "
	      "recorded, and committed, before the update of that round left the site.</p>",
	      f);
	if (n == 0)
		fputs("<p>No privacy charges in these logs.</p>", f);
	for (size_t s = 0; s < n; s++) {
		double max_run, max_total, total, worst;
		size_t rounds;
		int within;

		rp_site_policy(d, sites[s], &max_run, &max_total);
		rp_site_spend(d, sites[s], &total, &worst, &rounds);
		within = !isnan(max_total) && total <= max_total && (isnan(max_run) || worst <= max_run);
		fputs("<section class=\"site\"><h3>Site ", f);
		html_esc(f, sites[s]);
		fputs("</h3><p>Lifetime epsilon <strong>", f);
		html_num(f, total);
		fputs("</strong> of a policy limit of ", f);
		html_num(f, max_total);
		fputs("; largest run epsilon ", f);
		html_num(f, worst);
		fputs(" of ", f);
		html_num(f, max_run);
		fprintf(f, " per run; %zu charged round%s. ", rounds, rounds == 1 ? "" : "s");
		if (isnan(max_total))
			fputs("<span class=\"bad\">No policy recorded.</span>", f);
		else if (within)
			fputs("<span class=\"ok\">Within the site's policy.</span>", f);
		else
			fputs("<span class=\"bad\">EXCEEDS the site's policy.</span>", f);
		fputs("</p>", f);
		html_chart(f, d, sites[s], max_total);
		fputs("<table><tr><th>run</th><th>round</th><th>epsilon (round)</th>"
		      "<th>epsilon (run)</th><th>epsilon (lifetime)</th><th>delta</th>"
		      "<th>policy max (run / lifetime)</th><th>recorded by</th></tr>",
		      f);
		for (size_t i = 0; i < d->n_spends; i++) {
			const rp_spend *sp = &d->spends[i];

			if (strcmp(sp->site, sites[s]) != 0)
				continue;
			fputs("<tr><td>", f);
			html_esc(f, sp->run);
			fprintf(f, "</td><td class=\"n\">%" PRIu64 "</td><td class=\"n\">", sp->round);
			html_num(f, sp->eps_round);
			fputs("</td><td class=\"n\">", f);
			html_num(f, sp->eps_run);
			fputs("</td><td class=\"n\">", f);
			html_num(f, sp->eps_total);
			fputs("</td><td class=\"n\">", f);
			html_num(f, sp->delta);
			fputs("</td><td class=\"n\">", f);
			html_num(f, sp->max_run);
			fputs(" / ", f);
			html_num(f, sp->max_total);
			fputs("</td><td>", f);
			html_esc(f, sp->from);
			fputs("</td></tr>", f);
		}
		fputs("</table></section>", f);
	}
}

static void html_tables(FILE *f, const rp_data *d)
{
	fputs("<h2>Rounds and participants</h2>", f);
	if (d->n_rounds == 0)
		fputs("<p>No rounds in these logs.</p>", f);
	else
		fputs("<table><tr><th>recorded by</th><th>run</th><th>round</th><th>selected sites"
		      "</th><th>threshold</th><th>outcome</th><th>in the sum</th><th>dropped</th></tr>",
		      f);
	for (size_t i = 0; i < d->n_rounds; i++) {
		const rp_round *r = &d->rounds[i];

		fputs("<tr><td>", f);
		html_esc(f, r->actor);
		fputs("</td><td>", f);
		html_esc(f, r->run);
		fprintf(f, "</td><td class=\"n\">%" PRIu64 "</td><td>", r->round);
		html_esc(f, r->selected);
		fprintf(f, "</td><td class=\"n\">%" PRIu64 "</td><td>", r->threshold);
		html_esc(f, r->status != NULL ? r->status : "(no end recorded)");
		fputs("</td><td>", f);
		html_esc(f, r->included);
		fputs("</td><td>", f);
		html_esc(f, r->dropped);
		fputs("</td></tr>", f);
	}
	if (d->n_rounds > 0)
		fputs("</table>", f);

	fputs("<h2>What left each site: protocol messages</h2>", f);
	fputs("<p class=\"note\">Every protocol message sent or received is logged with its type "
	      "and size (never its content). Bounded sizes of protocol message types, and no other "
	      "kind of transfer, are the evidence that no patient records were sent.</p>",
	      f);
	if (d->n_msgs == 0)
		fputs("<p>No messages in these logs.</p>", f);
	else
		fputs("<table><tr><th>site / party</th><th>direction</th><th>message type</th>"
		      "<th>count</th><th>min bytes</th><th>max bytes</th><th>total bytes</th></tr>",
		      f);
	for (int dir = 0; dir < 2; dir++)
		for (size_t i = 0; i < d->n_msgs; i++) {
			const rp_msg *m = &d->msgs[i];

			if (m->received != dir)
				continue;
			fputs("<tr><td>", f);
			html_esc(f, m->actor);
			fprintf(f, "</td><td>%s</td><td>", dir ? "received" : "sent");
			html_esc(f, m->type);
			fprintf(f,
			        "</td><td class=\"n\">%" PRIu64 "</td><td class=\"n\">%" PRIu64
			        "</td><td class=\"n\">%" PRIu64 "</td><td class=\"n\">%" PRIu64
			        "</td></tr>",
			        m->count, m->min, m->max, m->total);
		}
	if (d->n_msgs > 0)
		fputs("</table>", f);

	fputs("<h2>Local training</h2>", f);
	if (d->n_trains == 0)
		fputs("<p>No local training in these logs.</p>", f);
	else
		fputs("<table><tr><th>site</th><th>run</th><th>round</th><th>patients</th>"
		      "<th>records</th><th>steps</th><th>sampling rate</th><th>noise multiplier</th>"
		      "<th>clip norm</th></tr>",
		      f);
	for (size_t i = 0; i < d->n_trains; i++) {
		const rp_train *t = &d->trains[i];

		fputs("<tr><td>", f);
		html_esc(f, t->actor);
		fputs("</td><td>", f);
		html_esc(f, t->run);
		fprintf(f,
		        "</td><td class=\"n\">%" PRIu64 "</td><td class=\"n\">%" PRIu64
		        "</td><td class=\"n\">%" PRIu64 "</td><td class=\"n\">%" PRIu64
		        "</td><td class=\"n\">",
		        t->round, t->patients, t->records, t->steps);
		html_num(f, t->q);
		fputs("</td><td class=\"n\">", f);
		html_num(f, t->sigma);
		fputs("</td><td class=\"n\">", f);
		html_num(f, t->clip);
		fputs("</td></tr>", f);
	}
	if (d->n_trains > 0)
		fputs("</table>", f);

	fputs("<h2>Refusals</h2>", f);
	if (d->n_refusals == 0)
		fputs("<p>No refusals in these logs.</p>", f);
	else
		fputs("<table><tr><th>site / party</th><th>run</th><th>round</th><th>reason</th>"
		      "</tr>",
		      f);
	for (size_t i = 0; i < d->n_refusals; i++) {
		const rp_refuse *r = &d->refusals[i];

		fputs("<tr><td>", f);
		html_esc(f, r->actor);
		fputs("</td><td>", f);
		html_esc(f, r->has_run ? r->run : "-");
		fputs("</td><td class=\"n\">", f);
		if (r->has_run)
			fprintf(f, "%" PRIu64, r->round);
		fputs("</td><td>", f);
		html_esc(f, r->reason);
		fputs("</td></tr>", f);
	}
	if (d->n_refusals > 0)
		fputs("</table>", f);
}

int audit_report_html(FILE *f, const char *const *paths, size_t n,
                      const ft_audit_verify_result *vres, const int *vrv,
                      const ft_errmsg *verrs, ft_errmsg *err)
{
	rp_data d;
	char stamp[64];
	time_t now = time(NULL);
	struct tm tm;
	int rv;

	memset(&d, 0, sizeof(d));
	rv = rp_collect_all(&d, paths, n, vres, err);
	if (rv != FT_OK)
		goto out;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M UTC", &tm);
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	      "<title>fedtwin audit report</title><style>",
	      f);
	fputs(html_style, f);
	fputs("</style></head><body><h1>fedtwin audit report</h1>", f);
	fprintf(f, "<p class=\"note\">Generated %s from %zu log%s. Only entries that verified "
	           "are used below.</p>",
	        stamp, n, n == 1 ? "" : "s");
	fputs("<h2>Verification</h2><table><tr><th>log file</th><th>actor</th><th>key "
	      "fingerprint</th><th>entries verified</th><th>head (seq:hash)</th><th>status</th>"
	      "</tr>",
	      f);
	for (size_t i = 0; i < n; i++) {
		char fpr[FT_CRYPTO_FPR_CHARS + 1], hex[2 * FT_CRYPTO_HASH_BYTES + 1];

		fputs("<tr><td class=\"mono\">", f);
		html_esc(f, paths[i]);
		fputs("</td><td>", f);
		html_esc(f, vres[i].actor);
		fputs("</td><td class=\"mono\">", f);
		if (vres[i].entries > 0) {
			ft_crypto_fingerprint(vres[i].pk, fpr);
			fputs(fpr, f);
		}
		fprintf(f, "</td><td class=\"n\">%" PRIu64 "</td><td class=\"mono\">", vres[i].entries);
		if (vres[i].entries > 0) {
			ft_crypto_hex(hex, vres[i].head, FT_CRYPTO_HASH_BYTES);
			fprintf(f, "%" PRIu64 ":%s", vres[i].head_seq, hex);
		}
		fputs("</td><td>", f);
		if (vrv[i] == FT_OK) {
			fputs("<span class=\"ok\">VERIFIED</span>", f);
		} else {
			fputs("<span class=\"bad\">FAILED</span>: ", f);
			html_esc(f, verrs[i].msg);
		}
		fputs("</td></tr>", f);
	}
	fputs("</table>", f);
	html_ledger(f, &d);
	html_tables(f, &d);
	fputs("<p class=\"note\">Verify these logs yourself: <span class=\"mono\">fedtwin audit "
	      "verify LOG</span> (docs/AUDIT.md).</p></body></html>\n",
	      f);
	if (ferror(f))
		rv = ft_errmsg_set(err, FT_EIO, "cannot write the report");
out:
	rp_free(&d);
	return rv;
}

/* ---- JSON --------------------------------------------------------------------- */

static void json_key(FILE *f, const char *k, int first)
{
	if (!first)
		fputc(',', f);
	audit_json_write_str(f, k, strlen(k));
	fputc(':', f);
}

static void json_s(FILE *f, const char *k, const char *v, int first)
{
	json_key(f, k, first);
	audit_json_write_str(f, v != NULL ? v : "", v != NULL ? strlen(v) : 0);
}

static void json_d(FILE *f, const char *k, double v, int first)
{
	json_key(f, k, first);
	if (isfinite(v))
		fprintf(f, "%.17g", v);
	else
		fputs("null", f);
}

static void json_u(FILE *f, const char *k, uint64_t v, int first)
{
	json_key(f, k, first);
	fprintf(f, "%" PRIu64, v);
}

int audit_report_json(FILE *f, const char *const *paths, size_t n,
                      const ft_audit_verify_result *vres, const int *vrv,
                      const ft_errmsg *verrs, ft_errmsg *err)
{
	const char *sites[RP_SITES_MAX];
	size_t n_sites;
	rp_data d;
	int rv;

	memset(&d, 0, sizeof(d));
	rv = rp_collect_all(&d, paths, n, vres, err);
	if (rv != FT_OK)
		goto out;
	fputs("{\"logs\":[", f);
	for (size_t i = 0; i < n; i++) {
		char hex[2 * FT_CRYPTO_HASH_BYTES + 1];

		fputs(i > 0 ? ",{" : "{", f);
		json_s(f, "path", paths[i], 1);
		json_s(f, "actor", vres[i].actor, 0);
		json_key(f, "verified", 0);
		fputs(vrv[i] == FT_OK ? "true" : "false", f);
		json_s(f, "error", vrv[i] == FT_OK ? "" : verrs[i].msg, 0);
		json_u(f, "entries", vres[i].entries, 0);
		json_u(f, "head_seq", vres[i].head_seq, 0);
		ft_crypto_hex(hex, vres[i].head, FT_CRYPTO_HASH_BYTES);
		json_s(f, "head", vres[i].entries > 0 ? hex : "", 0);
		ft_crypto_hex(hex, vres[i].pk, FT_CRYPTO_SIGN_PK_BYTES);
		json_s(f, "pk", vres[i].entries > 0 ? hex : "", 0);
		fputc('}', f);
	}
	fputs("],\"sites\":[", f);
	n_sites = rp_sites(&d, sites, RP_SITES_MAX);
	for (size_t s = 0; s < n_sites; s++) {
		double max_run, max_total, total, worst;
		size_t rounds, k = 0;

		rp_site_policy(&d, sites[s], &max_run, &max_total);
		rp_site_spend(&d, sites[s], &total, &worst, &rounds);
		fputs(s > 0 ? ",{" : "{", f);
		json_s(f, "site", sites[s], 1);
		json_d(f, "eps_total", total, 0);
		json_d(f, "eps_run_max", worst, 0);
		json_d(f, "max_eps_total", max_total, 0);
		json_d(f, "max_eps_run", max_run, 0);
		json_key(f, "within_policy", 0);
		fputs(!isnan(max_total) && total <= max_total && (isnan(max_run) || worst <= max_run)
		              ? "true"
		              : "false",
		      f);
		json_key(f, "rounds", 0);
		fputc('[', f);
		for (size_t i = 0; i < d.n_spends; i++) {
			const rp_spend *sp = &d.spends[i];

			if (strcmp(sp->site, sites[s]) != 0)
				continue;
			fputs(k++ > 0 ? ",{" : "{", f);
			json_s(f, "run", sp->run, 1);
			json_u(f, "round", sp->round, 0);
			json_d(f, "eps_round", sp->eps_round, 0);
			json_d(f, "eps_run", sp->eps_run, 0);
			json_d(f, "eps_total", sp->eps_total, 0);
			json_d(f, "delta", sp->delta, 0);
			json_s(f, "recorded_by", sp->from, 0);
			fputc('}', f);
		}
		fputs("]}", f);
	}
	fputs("],\"rounds\":[", f);
	for (size_t i = 0; i < d.n_rounds; i++) {
		const rp_round *r = &d.rounds[i];

		fputs(i > 0 ? ",{" : "{", f);
		json_s(f, "recorded_by", r->actor, 1);
		json_s(f, "run", r->run, 0);
		json_u(f, "round", r->round, 0);
		json_s(f, "selected", r->selected, 0);
		json_u(f, "threshold", r->threshold, 0);
		json_s(f, "status", r->status, 0);
		json_s(f, "included", r->included, 0);
		json_s(f, "dropped", r->dropped, 0);
		fputc('}', f);
	}
	fputs("],\"messages\":[", f);
	for (size_t i = 0; i < d.n_msgs; i++) {
		const rp_msg *m = &d.msgs[i];

		fputs(i > 0 ? ",{" : "{", f);
		json_s(f, "actor", m->actor, 1);
		json_s(f, "direction", m->received ? "received" : "sent", 0);
		json_s(f, "msg_type", m->type, 0);
		json_u(f, "count", m->count, 0);
		json_u(f, "min_bytes", m->min, 0);
		json_u(f, "max_bytes", m->max, 0);
		json_u(f, "total_bytes", m->total, 0);
		fputc('}', f);
	}
	fputs("]}\n", f);
	if (ferror(f))
		rv = ft_errmsg_set(err, FT_EIO, "cannot write the report");
out:
	rp_free(&d);
	return rv;
}

/* ---- JSON lines export --------------------------------------------------------- */

int audit_export_jsonl(FILE *f, const char *path, ft_errmsg *err)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	audit_entry e;
	audit_jobj o;
	int rv, rc;

	memset(&o, 0, sizeof(o));
	rv = audit_db_open_ro(path, &db, err);
	if (rv != FT_OK)
		return rv;
	if (sqlite3_prepare_v2(db, "SELECT " AUDIT_ENTRY_COLUMNS " FROM entries ORDER BY seq", -1,
	                       &st, NULL) != SQLITE_OK) {
		rv = ft_errmsg_set(err, FT_EDB, "%.96s: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	for (;;) {
		rc = audit_db_next(st, &e, err);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			rv = rc;
			goto out;
		}
		/* Keys in sorted order, so each line is itself canonical. */
		fputc('{', f);
		json_key(f, "actor", 1);
		audit_json_write_str(f, e.actor, e.actor_len);
		json_key(f, "hash", 0);
		audit_json_write_str(f, e.hash_hex, strlen(e.hash_hex));
		/* A payload that is canonical JSON is copied byte for byte (the
		 * bytes the hash covers); anything else only as a string. */
		if (audit_json_parse(e.payload, e.payload_len, &o, NULL) == FT_OK) {
			json_key(f, "payload", 0);
			fwrite(e.payload, 1, e.payload_len, f);
			audit_jobj_clear(&o);
		} else {
			json_key(f, "payload_invalid", 0);
			audit_json_write_str(f, e.payload, e.payload_len);
		}
		json_key(f, "prev_hash", 0);
		audit_json_write_str(f, e.prev_hex, strlen(e.prev_hex));
		json_u(f, "seq", e.seq, 0);
		json_key(f, "sig", 0);
		audit_json_write_str(f, e.sig_hex, strlen(e.sig_hex));
		json_key(f, "time_ms", 0);
		fprintf(f, "%" PRId64, e.time_ms);
		json_key(f, "type", 0);
		audit_json_write_str(f, e.type, e.type_len);
		fputs("}\n", f);
	}
	if (ferror(f))
		rv = ft_errmsg_set(err, FT_EIO, "cannot write the export");
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rv;
}
