/*
 * Two workers advancing one shared toy model in lockstep, in C with liblockstep: the twin of
 * examples/two_workers.rs. A row of 31 cells evolves by rule 90 (every cell becomes the
 * exclusive or of its two neighbours); worker "left" computes cells 0..16 of each new row and
 * worker "right" cells 16..31, each on its own thread with its own client. A new row needs the
 * whole previous one, so neither may start step n+1 before both finished step n, which is what
 * the conductor guarantees. Start a conductor that waits for both and runs 15 steps, then this
 * example:
 *
 *     cargo run --release -- --min-clients 2 --rounds 15
 *     cargo build --release -p lockstep-capi
 *     cc -pthread examples/two_workers.c -Iinclude -Ltarget/release -llockstep \
 *        -Wl,-rpath,target/release -o two_workers
 *     ./two_workers             # --port P for another conductor port
 *
 * It prints the 16 rows, a Sierpinski triangle.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lockstep.h"

#define WIDTH 31
#define MAX_ROWS 1024

/* The shared model: the finished rows and the row being computed. */
static struct {
    pthread_mutex_t lock;
    unsigned char rows[MAX_ROWS][WIDTH];
    int finished;           /* rows in `rows` */
    unsigned char next[WIDTH];
    long step;              /* the step `next` belongs to; -1 before the first */
} model = {PTHREAD_MUTEX_INITIALIZER, {{0}}, 0, {0}, -1};

/* One worker: its id and its cells. */
struct worker {
    const char *id;
    int first, end;
    const char *address;
    int status;
};

/* Computes the worker's cells of the new row for `step` from the last finished row. */
static int advance(uint32_t step, void *user) {
    const struct worker *w = user;
    pthread_mutex_lock(&model.lock);
    if (model.step != (long)step) {
        /* The first worker into a step files the row of the step before. Both workers have
           finished that row: the conductor sends this step's Go only when all are Done. */
        if (model.step >= 0) {
            if (model.finished == MAX_ROWS) {
                pthread_mutex_unlock(&model.lock);
                return 1; /* refuses the step: "step N: callback returned 1" */
            }
            memcpy(model.rows[model.finished++], model.next, WIDTH);
        }
        model.step = (long)step;
    }
    const unsigned char *last = model.rows[model.finished - 1];
    for (int i = w->first; i < w->end; i++) {
        model.next[i] = last[(i + WIDTH - 1) % WIDTH] ^ last[(i + 1) % WIDTH];
    }
    pthread_mutex_unlock(&model.lock);
    return 0;
}

static void *work(void *arg) {
    struct worker *w = arg;
    lockstep_client *client = lockstep_connect(w->address, w->id, NULL);
    if (client == NULL) {
        fprintf(stderr, "two_workers: %s: %s\n", w->id, lockstep_last_error());
        w->status = 1;
        return NULL;
    }
    if (lockstep_run(client, advance, w) != LOCKSTEP_OK) {
        fprintf(stderr, "two_workers: %s: %s\n", w->id, lockstep_last_error());
        w->status = 1;
    }
    lockstep_close(client);
    return NULL;
}

/* Prints a row as '#' and ' ', without trailing spaces. */
static void print_row(const unsigned char *row) {
    int end = WIDTH;
    while (end > 0 && !row[end - 1]) end--;
    for (int i = 0; i < end; i++) putchar(row[i] ? '#' : ' ');
    putchar('\n');
}

int main(int argc, char **argv) {
    const char *port = "7878";
    if (argc == 3 && strcmp(argv[1], "--port") == 0) {
        port = argv[2];
    } else if (argc != 1) {
        fprintf(stderr, "usage: two_workers [--port P]\n");
        return 2;
    }
    char address[64];
    snprintf(address, sizeof address, "127.0.0.1:%s", port);

    model.rows[0][WIDTH / 2] = 1;
    model.finished = 1;
    struct worker workers[2] = {
        {"left", 0, WIDTH / 2 + 1, address, 0},
        {"right", WIDTH / 2 + 1, WIDTH, address, 0},
    };
    pthread_t threads[2];
    for (int i = 0; i < 2; i++) {
        if (pthread_create(&threads[i], NULL, work, &workers[i]) != 0) {
            fprintf(stderr, "two_workers: cannot start a thread\n");
            return 1;
        }
    }
    for (int i = 0; i < 2; i++) pthread_join(threads[i], NULL);
    if (workers[0].status != 0 || workers[1].status != 0) return 1;

    for (int r = 0; r < model.finished; r++) print_row(model.rows[r]);
    if (model.step >= 0) print_row(model.next);
    return 0;
}
