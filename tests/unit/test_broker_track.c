/* When cmpd renews, and when it tries again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "track.h"

#define DAY 86400

static struct profile
profile_default(void)
{
	struct profile p;

	memset(&p, 0, sizeof(p));
	p.renew_at = 66;
	p.renew_jitter = 0;
	p.window.start = p.window.end = NO_WINDOW;
	p.retry_min = 60;
	p.retry_max = 3600;
	return p;
}

static void
test_percent_of_lifetime(void **state)
{
	struct profile p = profile_default();
	int64_t nb = 1000000, na = nb + 100 * DAY;

	(void)state;
	assert_int_equal(
	    track_renewal_time(&p, nb, na, nb, 0.0), nb + 66 * DAY);
	p.renew_at = 50;
	assert_int_equal(
	    track_renewal_time(&p, nb, na, nb, 0.9), nb + 50 * DAY);
	/* Past the point already: now. */
	assert_int_equal(
	    track_renewal_time(&p, nb, na, nb + 70 * DAY, 0.0), nb + 70 * DAY);
	/* A ten-second certificate renews at 5 s (50%). */
	assert_int_equal(track_renewal_time(&p, nb, nb + 10, nb, 0.0) - nb, 5);
}

static void
test_before_expiry_and_jitter(void **state)
{
	struct profile p = profile_default();
	int64_t nb = 1000000, na = nb + 90 * DAY, t;

	(void)state;
	p.renew_before = 7 * DAY;
	assert_int_equal(track_renewal_time(&p, nb, na, nb, 0.0), na - 7 * DAY);
	p.renew_jitter = 3600;
	t = track_renewal_time(&p, nb, na, nb, 0.5);
	assert_int_equal(t, na - 7 * DAY - 1800);
	/* Automatic jitter: up to 2% of the lifetime, only ever earlier. */
	p.renew_jitter = -1;
	for (int i = 0; i < 100; i++) {
		t = track_renewal_time(&p, nb, na, nb, track_random());
		assert_true(t <= na - 7 * DAY);
		assert_true(t >= na - 7 * DAY - 90 * DAY / 50);
	}
}

static int
local_minute(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	localtime_r(&tt, &tm);
	return tm.tm_hour * 60 + tm.tm_min;
}

static void
test_daily_window(void **state)
{
	struct profile p = profile_default();
	int64_t nb = 1700000000, na = nb + 100 * DAY, point = nb + 66 * DAY, t;

	(void)state;
	p.window.start = 2 * 60;
	p.window.end = 5 * 60;
	t = track_renewal_time(&p, nb, na, nb, 0.0);
	assert_true(t >= point);
	assert_true(t < point + DAY);
	assert_true(local_minute(t) >= 120 && local_minute(t) < 300);
	/* A window across midnight. */
	p.window.start = 23 * 60;
	p.window.end = 1 * 60;
	t = track_renewal_time(&p, nb, na, nb, 0.0);
	assert_true(local_minute(t) >= 23 * 60 || local_minute(t) < 60);
	/* A window that would let it expire is not kept. */
	t = track_renewal_time(&p, nb, nb + 600, nb, 0.0);
	assert_int_equal(t, nb + 396);
}

static void
test_backoff(void **state)
{
	struct profile p = profile_default();
	int64_t now = 5000000;

	(void)state;
	assert_int_equal(track_retry_time(&p, 1, now, 0.0), now + 60);
	assert_int_equal(track_retry_time(&p, 2, now, 0.0), now + 120);
	assert_int_equal(track_retry_time(&p, 3, now, 0.0), now + 240);
	assert_int_equal(track_retry_time(&p, 7, now, 0.0), now + 3600);
	assert_int_equal(track_retry_time(&p, 40, now, 0.0), now + 3600);
	/* Up to a tenth later, so that many do not retry as one. */
	assert_int_equal(track_retry_time(&p, 1, now, 0.5), now + 63);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_percent_of_lifetime),
		cmocka_unit_test(test_before_expiry_and_jitter),
		cmocka_unit_test(test_daily_window),
		cmocka_unit_test(test_backoff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
