/*
 * test_coord_gate.c - the bound on what a site's frames cost the
 * coordinator's audit log: a flood of frames no round uses is recorded up
 * to the site's budget per window, then dropped with one msg.dropped entry
 * per window, while frames the round uses are never charged; and a masked
 * upload's chunks summed up as one digest a checker can recompute.
 */
#include "ft_test.h"

#include "coord_int.h"

/* What the daemon writes for one frame (coord_serve.c, handle_request):
 * the number of audit entries it costs. */
static int frame_cost(coord_gate *g, uint64_t now, int used, uint64_t *dropped)
{
	int over = coord_gate_over(g, now);

	if (!used && over) {
		if (!coord_gate_drop(g))
			return 0;
		*dropped += coord_gate_take_dropped(g);
		return 1; /* msg.dropped */
	}
	if (!used)
		coord_gate_unused(g, now);
	return 2; /* msg.received and its anchor */
}

static void test_flood_is_bounded(void **state)
{
	coord_gate g;
	uint64_t dropped = 0, entries = 0, t;
	(void)state;

	coord_gate_init(&g, 32, 10000);
	/* 10,000 useless frames in the first window, 1 ms apart */
	for (t = 0; t < 10000; t++)
		entries += (uint64_t)frame_cost(&g, 1000000 + t, 0, &dropped);
	assert_int_equal(entries, 2 * 32 + 1);
	/* the note counted the drop that triggered it; the rest wait for the
	 * next window's note */
	assert_int_equal(dropped, 1);
	/* frames the round uses still pass, recorded, never charged */
	for (int i = 0; i < 100; i++)
		assert_int_equal(frame_cost(&g, 1000000 + 9999, 1, &dropped), 2);
	/* the next window: the budget again and one note, which reports the
	 * drops of the window before */
	entries = 0;
	for (t = 10000; t < 20000; t++)
		entries += (uint64_t)frame_cost(&g, 1000000 + t, 0, &dropped);
	assert_int_equal(entries, 2 * 32 + 1);
	assert_int_equal(dropped, (10000 - 32) + 1);
	/* a site that sends only what the round uses is never over */
	coord_gate_init(&g, 1, 10000);
	for (t = 0; t < 1000; t++)
		assert_int_equal(frame_cost(&g, t, 1, &dropped), 2);
	assert_false(coord_gate_over(&g, 1000));
}

static void test_window_and_clock(void **state)
{
	coord_gate g;
	(void)state;

	coord_gate_init(&g, 2, 1000);
	coord_gate_unused(&g, 5000);
	coord_gate_unused(&g, 5001);
	assert_true(coord_gate_over(&g, 5999));
	assert_int_equal(coord_gate_drop(&g), 1);
	assert_int_equal(coord_gate_drop(&g), 0); /* one note per window */
	assert_false(coord_gate_over(&g, 6000));  /* a new window */
	coord_gate_unused(&g, 6000);
	coord_gate_unused(&g, 6001);
	assert_true(coord_gate_over(&g, 6002));
	assert_int_equal(coord_gate_drop(&g), 1);
	assert_int_equal(coord_gate_take_dropped(&g), 3);
	assert_int_equal(coord_gate_take_dropped(&g), 0);
	/* a clock that goes back starts a window rather than stalling */
	assert_false(coord_gate_over(&g, 100));
}

static void test_upload_digest(void **state)
{
	coord_upload u;
	uint8_t e1[100], e2[70], e3[1], d[3][FT_CRYPTO_HASH_BYTES], want[FT_CRYPTO_HASH_BYTES];
	uint8_t got[FT_CRYPTO_HASH_BYTES], h1[FT_CRYPTO_HASH_BYTES], h2[FT_CRYPTO_HASH_BYTES];
	(void)state;

	memset(e1, 1, sizeof(e1));
	memset(e2, 2, sizeof(e2));
	memset(e3, 3, sizeof(e3));
	memset(h1, 0xaa, sizeof(h1));
	memset(h2, 0xbb, sizeof(h2));
	coord_upload_reset(&u);
	assert_int_equal(coord_upload_finish(&u, got), FT_ENOTFOUND);
	coord_upload_add(&u, 7, 3, e1, sizeof(e1), 40, h1);
	coord_upload_add(&u, 7, 3, e2, sizeof(e2), 42, h2);
	coord_upload_add(&u, 7, 3, e3, sizeof(e3), 41, h1);
	assert_int_equal(coord_upload_finish(&u, got), FT_OK);
	/* BLAKE2b-256 over the chunks' own digests, in order */
	ft_crypto_hash(d[0], e1, sizeof(e1));
	ft_crypto_hash(d[1], e2, sizeof(e2));
	ft_crypto_hash(d[2], e3, sizeof(e3));
	ft_crypto_hash(want, d, sizeof(d));
	assert_memory_equal(got, want, sizeof(want));
	assert_memory_equal(u.first, d[0], sizeof(d[0]));
	assert_int_equal(u.frames, 3);
	assert_int_equal(u.size, 171);
	assert_int_equal(u.run, 7);
	assert_int_equal(u.round, 3);
	/* the newest head stands for the upload */
	assert_int_equal(u.log_len, 42);
	assert_memory_equal(u.log_head, h2, sizeof(h2));
	coord_upload_reset(&u);
	assert_int_equal(u.frames, 0);
	assert_int_equal(coord_upload_finish(&u, got), FT_ENOTFOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flood_is_bounded),
		cmocka_unit_test(test_window_and_clock),
		cmocka_unit_test(test_upload_digest),
	};

	if (ft_crypto_init() != FT_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
