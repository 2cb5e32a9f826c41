/*
 * transport_cert.c - what a certificate says about itself: who it names,
 * who issued it, when it expires, and whether the consortium CA signed it.
 * Parsing is mbedTLS's (the library nng's TLS already uses), so the daemons
 * and `fedtwin node check` can warn before a certificate expires or after a
 * wrong one was installed; nng 1.5.2 gives no reason for a failed handshake.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <mbedtls/x509_crt.h>

#include "ft_transport.h"

static int64_t x509_time_unix(const mbedtls_x509_time *t)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = t->year - 1900;
	tm.tm_mon = t->mon - 1;
	tm.tm_mday = t->day;
	tm.tm_hour = t->hour;
	tm.tm_min = t->min;
	tm.tm_sec = t->sec;
	return (int64_t)timegm(&tm);
}

int ft_transport_cert_info_read(const char *cert_file, const char *ca_file,
                                ft_transport_cert_info *out, ft_errmsg *err)
{
	mbedtls_x509_crt crt, ca;
	ft_transport_cert_info info;
	uint32_t flags = 0;
	int rv = FT_OK, mrv;

	mbedtls_x509_crt_init(&crt);
	mbedtls_x509_crt_init(&ca);
	memset(&info, 0, sizeof(info));
	mrv = mbedtls_x509_crt_parse_file(&crt, cert_file);
	if (mrv != 0) {
		rv = ft_errmsg_set(err, FT_EFORMAT, "%s: not a readable PEM certificate (mbedTLS -0x%04x)",
		                   cert_file, (unsigned)-mrv);
		goto out;
	}
	if (mbedtls_x509_dn_gets(info.subject, sizeof(info.subject), &crt.subject) < 0)
		snprintf(info.subject, sizeof(info.subject), "?");
	if (mbedtls_x509_dn_gets(info.issuer, sizeof(info.issuer), &crt.issuer) < 0)
		snprintf(info.issuer, sizeof(info.issuer), "?");
	info.not_before = x509_time_unix(&crt.valid_from);
	info.not_after = x509_time_unix(&crt.valid_to);
	if (ca_file != NULL) {
		mrv = mbedtls_x509_crt_parse_file(&ca, ca_file);
		if (mrv != 0) {
			rv = ft_errmsg_set(err, FT_EFORMAT, "%s: not a readable PEM certificate"
			                   " (mbedTLS -0x%04x)", ca_file, (unsigned)-mrv);
			goto out;
		}
		/* Validity dates are reported separately (not_before/not_after):
		 * here only whether the CA signed it. */
		(void)mbedtls_x509_crt_verify(&crt, &ca, NULL, NULL, &flags, NULL, NULL);
		info.ca_signed = (flags & (MBEDTLS_X509_BADCERT_NOT_TRUSTED |
		                           MBEDTLS_X509_BADCERT_MISSING |
		                           MBEDTLS_X509_BADCERT_BAD_MD | MBEDTLS_X509_BADCERT_BAD_PK |
		                           MBEDTLS_X509_BADCERT_BAD_KEY)) == 0;
		info.ca_checked = 1;
	}
	*out = info;
out:
	mbedtls_x509_crt_free(&crt);
	mbedtls_x509_crt_free(&ca);
	return rv;
}

int ft_transport_cert_days_left(const ft_transport_cert_info *info, int64_t now_unix)
{
	int64_t d = (info->not_after - now_unix) / 86400;

	if (info->not_after < now_unix)
		return -1 - (int)((now_unix - info->not_after) / 86400);
	return d > 100000 ? 100000 : (int)d;
}

int ft_transport_cert_check(const char *cert_file, const char *ca_file, int64_t now_unix,
                            char *note, size_t note_cap, ft_errmsg *err)
{
	ft_transport_cert_info ci;
	char when[32];
	time_t t;
	struct tm tm;
	int rv, days;

	rv = ft_transport_cert_info_read(cert_file, ca_file, &ci, err);
	if (rv != FT_OK)
		return rv;
	t = (time_t)ci.not_after;
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d", &tm);
	days = ft_transport_cert_days_left(&ci, now_unix);
	if (ci.ca_checked && !ci.ca_signed)
		return ft_errmsg_set(err, FT_ECRYPTO,
		                     "%s (%s) was not issued by the CA in %s (it names %s): the peer"
		                     " will drop every connection",
		                     cert_file, ci.subject, ca_file, ci.issuer);
	if (ci.not_before > now_unix)
		return ft_errmsg_set(err, FT_EPERM, "%s is not valid yet: check this host's clock",
		                     cert_file);
	if (days < 0)
		return ft_errmsg_set(err, FT_EPERM, "%s (%s) expired on %s: ask the consortium"
		                     " operator for a new one (deploy/pki)",
		                     cert_file, ci.subject, when);
	if (note != NULL && note_cap > 0)
		snprintf(note, note_cap, "%s (%s) expires %s (%d days)%s", cert_file, ci.subject, when,
		         days, days < FT_TRANSPORT_CERT_WARN_DAYS ? ": renew it now" : "");
	return days < FT_TRANSPORT_CERT_WARN_DAYS ? FT_ETIMEDOUT : FT_OK;
}
