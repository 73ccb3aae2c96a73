/*
 * One participant in C over liblockstep that measures what its rounds cost, for
 * benches/participants.sh; examples/bench_participant.rs is its Rust twin and measures the
 * same way:
 *
 *   participant ADDRESS ID WARMUP
 *
 * runs lockstep_run with a step callback that does nothing but read the clocks, until the
 * conductor ends the run, then prints one JSON line: the steps done, the rounds measured
 * (from the Go of step WARMUP to the Go of the last step), their wall time as this
 * participant saw it and this process's CPU time (user + system, the heartbeat thread
 * included) over them, in microseconds. Events other than Go are not printed.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "lockstep.h"

struct measure {
    uint32_t warmup;
    uint64_t steps;
    int started;            /* the Go of step `warmup` arrived */
    uint32_t first, last;   /* the steps at the start and the end of the measurement */
    double wall_start, wall_end, cpu_start, cpu_end;
};

static double wall_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static double cpu_us(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return (double)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e6 +
           (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec);
}

static int step(uint32_t number, void *user) {
    struct measure *m = user;
    m->steps++;
    if (!m->started && number >= m->warmup) {
        m->started = 1;
        m->first = number;
        m->wall_start = wall_us();
        m->cpu_start = cpu_us();
    }
    if (m->started) {
        m->last = number;
        m->wall_end = wall_us();
        m->cpu_end = cpu_us();
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: participant ADDRESS ID WARMUP\n");
        return 2;
    }
    struct measure m = {0};
    m.warmup = (uint32_t)strtoul(argv[3], NULL, 10);
    lockstep_client *client = lockstep_connect(argv[1], argv[2], NULL);
    if (client == NULL) {
        fprintf(stderr, "participant %s: %s\n", argv[2], lockstep_last_error());
        return 1;
    }
    int rc = lockstep_run_with_events(client, step, NULL, &m);
    if (rc != LOCKSTEP_OK) fprintf(stderr, "participant %s: %s\n", argv[2], lockstep_last_error());
    lockstep_close(client);
    if (rc != LOCKSTEP_OK) return 1;
    printf("{\"lang\": \"c\", \"id\": \"%s\", \"steps\": %llu, \"rounds\": %u, "
           "\"wall_us\": %.1f, \"cpu_us\": %.1f}\n",
           argv[2], (unsigned long long)m.steps, m.started ? m.last - m.first : 0,
           m.wall_end - m.wall_start, m.cpu_end - m.cpu_start);
    return 0;
}
