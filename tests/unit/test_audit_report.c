/*
 * test_audit_report.c - the auditor's report and export: the HTML names
 * every site's ledger with the right totals against its policy, escapes
 * hostile strings from the logs, is well-formed (tags balance) and loads
 * nothing from outside; the JSON report and the JSON-lines export carry the
 * same facts; a tampered log is reported as FAILED.
 */
#include "ft_test.h"
#include "ft_audit.h"
#include "audit_int.h"
#include "audit_fixture.h"

#include <ctype.h>
#include <unistd.h>

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}

/*
 * A small well-formedness check: every tag is closed in order (void
 * elements and self-closed SVG elements excepted), attribute values are
 * quoted, and text holds no raw '<' and only known entities.
 */
static void check_html(const char *html)
{
	static const char *entities[] = { "&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&ndash;" };
	char stack[64][16];
	int depth = 0;
	const char *p = html;

	assert_true(strncmp(p, "<!DOCTYPE html>", 15) == 0);
	p += 15;
	while (*p != '\0') {
		if (*p == '&') {
			size_t k = 0;

			while (k < 6 && strncmp(p, entities[k], strlen(entities[k])) != 0)
				k++;
			if (k == 6)
				fail_msg("bare '&' or unknown entity at: %.40s", p);
			p++;
			continue;
		}
		if (*p != '<') {
			assert_true(*p != '>');
			p++;
			continue;
		}
		p++;
		if (*p == '/') {
			char name[16];
			size_t n = 0;

			p++;
			while (isalnum((unsigned char)*p) && n < sizeof(name) - 1)
				name[n++] = *p++;
			name[n] = '\0';
			assert_int_equal(*p, '>');
			p++;
			if (depth == 0 || strcmp(stack[depth - 1], name) != 0)
				fail_msg("</%s> closes <%s>", name, depth > 0 ? stack[depth - 1] : "(none)");
			depth--;
			continue;
		}
		{
			char name[16];
			size_t n = 0;
			int self = 0;

			if (!isalpha((unsigned char)*p))
				fail_msg("raw '<' in text at: %.40s", p - 1);
			while (isalnum((unsigned char)*p) && n < sizeof(name) - 1)
				name[n++] = *p++;
			name[n] = '\0';
			/* Attributes: name="value" pairs. */
			while (*p != '>') {
				assert_true(*p != '\0' && *p != '<');
				if (*p == '"') {
					p = strchr(p + 1, '"');
					assert_non_null(p);
					assert_true(memchr(p, '<', 1) == NULL);
				} else if (*p == '/' && p[1] == '>') {
					self = 1;
				}
				p++;
			}
			p++;
			if (self || strcmp(name, "meta") == 0)
				continue;
			assert_true(depth < 64);
			memcpy(stack[depth++], name, n + 1);
		}
	}
	assert_int_equal(depth, 0);
}

static void test_report_html_and_json(void **state)
{
	fx_consortium c;
	char html_path[160], json_path[160], *out = NULL, *err = NULL, *html, *json;
	char want[256];

	(void)state;
	fx_build(&c, 5, 1);
	snprintf(html_path, sizeof(html_path), "%s/report.html", c.dir);
	snprintf(json_path, sizeof(json_path), "%s/report.json", c.dir);
	assert_int_equal(fx_cli(&out, &err, "report", c.coord_path, c.site_path[0], c.site_path[1],
	                        c.site_path[2], "--html", html_path, "--json", json_path, NULL),
	                 0);
	free(out);
	free(err);
	html = slurp(html_path);
	check_html(html);

	/* Nothing from the logs became markup, and nothing is fetched. */
	assert_null(strstr(html, "<script"));
	assert_null(strstr(html, "<b>"));
	assert_null(strstr(html, "<i>"));
	assert_null(strstr(html, "src="));
	assert_null(strstr(html, "href="));
	assert_null(strstr(html, "url("));
	assert_null(strstr(html, "@import"));
	assert_int_equal(count(html, "http"), count(html, "http://www.w3.org/2000/svg"));
	assert_non_null(strstr(html, "run-&lt;b&gt;&quot;x&quot;&amp;&#39;"));
	assert_non_null(strstr(html, "budget &lt;exceeded&gt; &amp; &quot;refused&quot;"));

	/* Every log verified, every site has its ledger and chart. */
	assert_int_equal(count(html, ">VERIFIED<"), 4);
	for (int s = 0; s < FX_SITES; s++) {
		snprintf(want, sizeof(want), "<h3>Site site:%d&lt;script&gt;alert(1)&lt;/script&gt;</h3>",
		         s + 1);
		assert_int_equal(count(html, want), 1);
	}
	assert_int_equal(count(html, "<svg"), 3);
	assert_int_equal(count(html, "<polyline"), 3);
	assert_non_null(strstr(html, "Lifetime epsilon <strong>2.3</strong> of a policy limit of 8; "
	                             "largest run epsilon 2 of 3 per run; 5 charged rounds."));
	assert_non_null(strstr(html, "Lifetime epsilon <strong>2.25</strong> of a policy limit of 8; "
	                             "largest run epsilon 2.25 of 3 per run; 5 charged rounds."));
	assert_non_null(strstr(html, "Lifetime epsilon <strong>3.1</strong> of a policy limit of 8; "
	                             "largest run epsilon 2 of 3 per run; 4 charged rounds."));
	assert_int_equal(count(html, "Within the site&#39;s policy."), 0);
	assert_int_equal(count(html, "Within the site's policy."), 3);
	free(html);

	json = slurp(json_path);
	assert_null(strchr(json, '<'));
	assert_int_equal(count(json, "\"verified\":true"), 4);
	assert_int_equal(count(json, "\"within_policy\":true"), 3);
	/* The bytes that left: per site and message type, with min/max/total. */
	assert_int_equal(count(json, "\"direction\":\"sent\",\"msg_type\":\"masked_update\","
	                             "\"count\":5,\"min_bytes\":4136,\"max_bytes\":4136,"
	                             "\"total_bytes\":20680}"),
	                 2);
	assert_int_equal(count(json, "\"direction\":\"sent\",\"msg_type\":\"masked_update\","
	                             "\"count\":4,\"min_bytes\":4136,\"max_bytes\":4136,"
	                             "\"total_bytes\":16544}"),
	                 1);
	assert_int_equal(count(json, "\"direction\":\"sent\",\"msg_type\":\"unmask\",\"count\":5,"
	                             "\"min_bytes\":128,\"max_bytes\":256,\"total_bytes\":960}"),
	                 2);
	/* The rounds with their participants; the last one lost site 3. */
	assert_int_equal(count(json, "\"status\":\"aggregated\""), 5);
	snprintf(want, sizeof(want), "\"round\":5,\"selected\":\"site:1\\u003cscript>alert(1)"
	                             "\\u003c/script>, site:2");
	assert_non_null(strstr(json, want));
	assert_non_null(strstr(json, "\"dropped\":\"site:3\\u003cscript>alert(1)\\u003c/script>\""));
	free(json);
	fx_free(&c);
}

static void test_report_policy_exceeded_and_failed_log(void **state)
{
	fx_consortium c;
	ft_audit_log *log = NULL;
	ft_crypto_identity *id = fx_identity(0x42);
	ft_audit_privacy p = { .run = "r", .round = 1, .q = 0.5, .sigma = 0.8, .clip = 1,
	                       .steps = 50, .eps_round = 4.5, .eps_run = 4.5, .eps_total = 9.5,
	                       .delta = 1e-5, .max_eps_run = 3, .max_eps_total = 8 };
	char path[160], html_path[160], *out = NULL, *err = NULL, *html;
	sqlite3 *db = NULL;
	ft_errmsg e;

	(void)state;
	fx_build(&c, 2, 0);
	snprintf(path, sizeof(path), "%s/greedy.audit", c.dir);
	assert_int_equal(ft_audit_open(path, id, "site:7", &log, &e), FT_OK);
	assert_int_equal(ft_audit_log_privacy(log, &p, NULL, NULL), FT_OK);
	ft_audit_close(log);
	/* Site 2's log is edited after the fact. */
	assert_int_equal(sqlite3_open(c.site_path[1], &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP TRIGGER entries_no_update; UPDATE entries SET "
	                                  "time_ms = time_ms + 1 WHERE type = 'privacy.spend'",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
	snprintf(html_path, sizeof(html_path), "%s/r.html", c.dir);
	assert_int_equal(fx_cli(&out, &err, "report", path, c.site_path[1], "--html", html_path,
	                        NULL),
	                 1);
	assert_non_null(strstr(err, "FAILED"));
	free(out);
	free(err);
	html = slurp(html_path);
	check_html(html);
	assert_non_null(strstr(html, "EXCEEDS the site's policy."));
	assert_int_equal(count(html, ">VERIFIED<"), 1);
	assert_int_equal(count(html, ">FAILED<"), 1);
	assert_non_null(strstr(html, "hash mismatch"));
	/* Only the verified prefix of site 2's log is used: it stops before
	 * the first (edited) charge, so only its policy is shown. */
	assert_non_null(strstr(html, "<h3>Site site:2</h3><p>Lifetime epsilon <strong>0</strong> of "
	                             "a policy limit of 8; largest run epsilon 0 of 3 per run; 0 "
	                             "charged rounds."));
	free(html);
	ft_crypto_identity_free(id);
	fx_free(&c);
}

static void test_export_jsonl(void **state)
{
	fx_consortium c;
	char path[160], *out = NULL, *err = NULL, *text, want[64];
	size_t lines;

	(void)state;
	fx_build(&c, 2, 1);
	snprintf(path, sizeof(path), "%s/export.jsonl", c.dir);
	assert_int_equal(fx_cli(&out, &err, "export", c.site_path[0], "--jsonl", path, NULL), 0);
	free(out);
	free(err);
	text = slurp(path);
	lines = count(text, "\n");
	assert_int_equal(lines, c.site_entries[0]);
	assert_int_equal(count(text, "{\"actor\":\"site:1\\u003cscript>alert(1)\\u003c/script>\","
	                             "\"hash\":\""),
	                 lines);
	for (uint64_t s = 1; s <= c.site_entries[0]; s++) {
		snprintf(want, sizeof(want), ",\"seq\":%llu,\"sig\":\"", (unsigned long long)s);
		assert_int_equal(count(text, want), 1);
	}
	assert_int_equal(count(text, "\"type\":\"log.genesis\"}"), 1);
	assert_int_equal(count(text, "\"payload\":{"), lines);
	free(text);
	/* To standard output. */
	assert_int_equal(fx_cli(&out, &err, "export", c.coord_path, "--jsonl", NULL), 0);
	assert_int_equal(count(out, "\n"), c.coord_entries);
	free(out);
	free(err);
	assert_int_equal(fx_cli(&out, &err, "export", c.coord_path, NULL), 2);
	free(out);
	free(err);
	fx_free(&c);
}

/* Renders the report in a headless browser when one is installed. */
static void test_report_screenshot(void **state)
{
	static const char *browsers[] = { "chromium", "chromium-browser", "google-chrome" };
	const char *browser = NULL;
	fx_consortium c;
	char cmd[1024], html_path[160], png[160], *out = NULL, *err = NULL;
	FILE *f;

	(void)state;
	for (size_t i = 0; i < 3 && browser == NULL; i++) {
		snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", browsers[i]);
		if (system(cmd) == 0)
			browser = browsers[i];
	}
	if (browser == NULL) {
		print_message("no chromium installed: skipping the rendered screenshot\n");
		skip();
	}
	fx_build(&c, 6, 0);
	snprintf(html_path, sizeof(html_path), "%s/report.html", c.dir);
	snprintf(png, sizeof(png), "%s/report.png", c.dir);
	assert_int_equal(fx_cli(&out, &err, "report", c.coord_path, c.site_path[0], c.site_path[1],
	                        c.site_path[2], "--html", html_path, NULL),
	                 0);
	free(out);
	free(err);
	snprintf(cmd, sizeof(cmd),
	         "timeout 90 %s --headless --no-sandbox --disable-gpu --disable-background-networking "
	         "--disable-component-update --disable-sync --no-first-run "
	         "--user-data-dir=%s/profile --window-size=1200,2400 --screenshot=%s file://%s "
	         ">/dev/null 2>&1",
	         browser, c.dir, png, html_path);
	assert_int_equal(system(cmd), 0);
	f = fopen(png, "rb");
	assert_non_null(f);
	{
		unsigned char sig[8];

		assert_int_equal(fread(sig, 1, 8, f), 8);
		assert_memory_equal(sig, "\x89PNG\r\n\x1a\n", 8);
	}
	fclose(f);
	/* FT_AUDIT_SCREENSHOT=DIR keeps the page and its picture for a look. */
	if (getenv("FT_AUDIT_SCREENSHOT") != NULL) {
		snprintf(cmd, sizeof(cmd), "cp '%s' '%s' '%s'", html_path, png,
		         getenv("FT_AUDIT_SCREENSHOT"));
		assert_int_equal(system(cmd), 0);
	}
	fx_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_report_html_and_json),
		cmocka_unit_test(test_report_policy_exceeded_and_failed_log),
		cmocka_unit_test(test_export_jsonl),
		cmocka_unit_test(test_report_screenshot),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
