/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Open-loop load at a fixed rate: loadgen PORT CONNS RATE SECONDS.
 * Each connection sends on a fixed schedule; a request's latency counts
 * from when it was due, not when it went out, so a stalled server shows as
 * latency (no coordinated omission).  Prints "t_ns latency_ns" per request.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int port, conns;
static double rate, seconds;
static long long t0;

struct rec {
	long long t, lat;
};

static long long now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *run(void *arg)
{
	struct rec *out = arg;
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((unsigned short)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);
	long long interval = (long long)(1e9 * conns / rate),
		  n = (long long)(seconds * rate / conns);
	char buf[16] = {0};

	if (connect(s, (struct sockaddr *)&a, sizeof(a)))
		return NULL;
	setsockopt(s, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof(one));
	for (long long k = 0; k < n; k++) {
		long long due = t0 + k * interval, t;
		ssize_t got = 0;

		while ((t = now()) < due)
			if (due - t > 50000) {
				struct timespec ts = {0, (due - t) - 20000};
				nanosleep(&ts, NULL);
			}
		if (write(s, buf, 16) != 16)
			break;
		while (got < 16) {
			ssize_t r = read(s, buf + got, 16 - (size_t)got);
			if (r <= 0)
				return NULL;
			got += r;
		}
		out[k] = (struct rec){due - t0, now() - due};
	}
	close(s);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 5)
		return 2;
	port = atoi(argv[1]);
	conns = atoi(argv[2]);
	rate = atof(argv[3]);
	seconds = atof(argv[4]);
	long long per = (long long)(seconds * rate / conns);
	pthread_t *th = calloc((size_t)conns, sizeof(*th));
	struct rec **recs = calloc((size_t)conns, sizeof(*recs));

	t0 = now() + 100000000LL;
	for (int i = 0; i < conns; i++) {
		recs[i] = calloc((size_t)per + 1, sizeof(**recs));
		pthread_create(&th[i], NULL, run, recs[i]);
	}
	for (int i = 0; i < conns; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < conns; i++)
		for (long long k = 0; k < per; k++)
			if (recs[i][k].lat)
				printf("%lld %lld\n", recs[i][k].t, recs[i][k].lat);
	return 0;
}
