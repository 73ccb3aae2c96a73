/*
 * The C API as a C program uses it, for tests/capi.rs, which starts the conductors and reads
 * what this prints:
 *
 *   api run ADDRESS ID [--fail-at N [--fail-code V] [--fail-text T]] [--events]
 *           [--heartbeat-ms MS] [--reconnect-ms MS]
 *           [--tls-ca F [--tls-cert F --tls-key F] [--tls-name N]]
 *       lockstep_run (or lockstep_run_with_events): prints "step N" for each step and
 *       "run: CODE: MESSAGE" at the end; exits 0 when the run returned LOCKSTEP_OK, 1 when
 *       not, 3 when lockstep_connect failed ("connect: CODE: MESSAGE").
 *   api by-hand ADDRESS ID [RECONNECT_MS]
 *       lockstep_next_event, lockstep_ack and lockstep_done until X: prints "go N",
 *       "repeated N" and "event KIND: TEXT".
 *   api arguments ADDRESS
 *       NULL pointers, invalid ids, non-ASCII text, bad options and calls out of turn against
 *       a conductor that sends no Go: prints "FAILED ..." for each check that fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lockstep.h"

static const char *status_name(int code) {
    switch (code) {
    case LOCKSTEP_OK: return "LOCKSTEP_OK";
    case LOCKSTEP_ERR_ARGUMENT: return "LOCKSTEP_ERR_ARGUMENT";
    case LOCKSTEP_ERR_CONNECT: return "LOCKSTEP_ERR_CONNECT";
    case LOCKSTEP_ERR_REFUSED: return "LOCKSTEP_ERR_REFUSED";
    case LOCKSTEP_ERR_CONDUCTOR_FAILED: return "LOCKSTEP_ERR_CONDUCTOR_FAILED";
    case LOCKSTEP_ERR_CONNECTION_LOST: return "LOCKSTEP_ERR_CONNECTION_LOST";
    case LOCKSTEP_ERR_PROTOCOL: return "LOCKSTEP_ERR_PROTOCOL";
    case LOCKSTEP_ERR_TLS: return "LOCKSTEP_ERR_TLS";
    case LOCKSTEP_ERR_STEP_FAILED: return "LOCKSTEP_ERR_STEP_FAILED";
    case LOCKSTEP_ERR_OUT_OF_TURN: return "LOCKSTEP_ERR_OUT_OF_TURN";
    case LOCKSTEP_ERR_INTERNAL: return "LOCKSTEP_ERR_INTERNAL";
    case LOCKSTEP_ERR_CONDUCTOR_GONE: return "LOCKSTEP_ERR_CONDUCTOR_GONE";
    default: return "an unknown code";
    }
}

/* ---- api run ---------------------------------------------------------------------------- */

struct plan {
    lockstep_client *client;
    uint32_t fail_at; /* 0: never */
    int fail_code;
    const char *fail_text;
};

static int step(uint32_t number, void *user) {
    struct plan *plan = user;
    printf("step %u\n", number);
    fflush(stdout);
    if (plan->fail_at != 0 && number == plan->fail_at) {
        if (plan->fail_text != NULL && lockstep_step_error(plan->client, plan->fail_text) != 0) {
            printf("lockstep_step_error: %s\n", lockstep_last_error());
        }
        return plan->fail_code;
    }
    return 0;
}

static void on_event(const lockstep_event *event, void *user) {
    (void)user;
    printf("event %d: %s%s%s\n", (int)event->kind, event->text,
           event->reason != NULL ? " / reason: " : "", event->reason != NULL ? event->reason : "");
    fflush(stdout);
}

static int run(int argc, char **argv) {
    if (argc < 2) return 2;
    lockstep_options options;
    lockstep_options_init(&options);
    struct plan plan = {NULL, 0, 1, NULL};
    int events = 0;
    for (int i = 2; i < argc; i++) {
        const char *flag = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(flag, "--events") == 0) { events = 1; continue; }
        if (value == NULL) return 2;
        i++;
        if (strcmp(flag, "--fail-at") == 0) plan.fail_at = (uint32_t)strtoul(value, NULL, 10);
        else if (strcmp(flag, "--fail-code") == 0) plan.fail_code = atoi(value);
        else if (strcmp(flag, "--fail-text") == 0) plan.fail_text = value;
        else if (strcmp(flag, "--heartbeat-ms") == 0) options.heartbeat_ms = (uint32_t)atoi(value);
        else if (strcmp(flag, "--reconnect-ms") == 0) options.reconnect_ms = (uint32_t)atoi(value);
        else if (strcmp(flag, "--tls-ca") == 0) options.tls_ca = value;
        else if (strcmp(flag, "--tls-cert") == 0) options.tls_cert = value;
        else if (strcmp(flag, "--tls-key") == 0) options.tls_key = value;
        else if (strcmp(flag, "--tls-name") == 0) options.tls_server_name = value;
        else return 2;
    }
    plan.client = lockstep_connect(argv[0], argv[1], &options);
    if (plan.client == NULL) {
        printf("connect: %s: %s\n", status_name(lockstep_last_error_code()),
               lockstep_last_error());
        return 3;
    }
    int rc = events ? lockstep_run_with_events(plan.client, step, on_event, &plan)
                    : lockstep_run(plan.client, step, &plan);
    printf("run: %s: %s\n", status_name(rc), rc == LOCKSTEP_OK ? "" : lockstep_last_error());
    lockstep_close(plan.client);
    return rc == LOCKSTEP_OK ? 0 : 1;
}

/* ---- api by-hand ------------------------------------------------------------------------ */

static int by_hand(int argc, char **argv) {
    if (argc != 2 && argc != 3) return 2;
    lockstep_options options;
    lockstep_options_init(&options);
    if (argc == 3) options.reconnect_ms = (uint32_t)atoi(argv[2]);
    lockstep_client *client = lockstep_connect(argv[0], argv[1], &options);
    if (client == NULL) {
        printf("connect: %s\n", lockstep_last_error());
        return 3;
    }
    int status = 1;
    for (;;) {
        lockstep_event event;
        int got = lockstep_next_event(client, -1, &event);
        if (got != 1) {
            printf("next_event: %s: %s\n", status_name(got), lockstep_last_error());
            break;
        }
        if (event.kind == LOCKSTEP_EVENT_GO) {
            printf("go %u\n", event.number);
            if (lockstep_ack(client) != LOCKSTEP_OK || lockstep_done(client) != LOCKSTEP_OK) {
                printf("answer: %s\n", lockstep_last_error());
                break;
            }
            continue;
        }
        if (event.kind == LOCKSTEP_EVENT_REPEATED) {
            printf("repeated %u\n", event.number);
            fflush(stdout);
            continue;
        }
        printf("event %d: %s\n", (int)event.kind, event.text);
        if (event.kind == LOCKSTEP_EVENT_EXIT) {
            status = 0;
            break;
        }
    }
    fflush(stdout);
    lockstep_close(client);
    return status;
}

/* ---- api arguments ---------------------------------------------------------------------- */

static int failures = 0;

/* Checks that `got` is `want` and that the last error mentions `words`. */
static void expect(const char *what, int got, int want, const char *words) {
    const char *message = lockstep_last_error();
    if (message == NULL) {
        printf("FAILED %s: lockstep_last_error() is NULL\n", what);
        failures++;
    } else if (got != want || (words != NULL && strstr(message, words) == NULL)) {
        printf("FAILED %s: got %s (%s), wanted %s mentioning \"%s\"\n", what, status_name(got),
               message, status_name(want), words != NULL ? words : "");
        failures++;
    } else {
        printf("ok %s: %s\n", what, message);
    }
}

/* Checks that lockstep_connect failed with `want` and an error mentioning `words`. */
static void expect_no_client(const char *what, lockstep_client *client, int want,
                             const char *words) {
    expect(what, client == NULL ? lockstep_last_error_code() : LOCKSTEP_OK, want, words);
    lockstep_close(client);
}

static int arguments(int argc, char **argv) {
    if (argc != 1) return 2;
    const char *address = argv[0];
    lockstep_event event;
    lockstep_options options;

    if (strlen(lockstep_version()) == 0) {
        printf("FAILED lockstep_version() is empty\n");
        failures++;
    }
    expect_no_client("NULL address", lockstep_connect(NULL, "w", NULL),
                     LOCKSTEP_ERR_ARGUMENT, "address is NULL");
    expect_no_client("NULL id", lockstep_connect(address, NULL, NULL),
                     LOCKSTEP_ERR_ARGUMENT, "id is NULL");
    expect_no_client("empty id", lockstep_connect(address, "", NULL),
                     LOCKSTEP_ERR_ARGUMENT, "invalid id");
    expect_no_client("long id", lockstep_connect(address, "thirteen-long", NULL),
                     LOCKSTEP_ERR_ARGUMENT, "invalid id");
    expect_no_client("non-ASCII id", lockstep_connect(address, "w\xc3\xb6rker", NULL),
                     LOCKSTEP_ERR_ARGUMENT, "byte 0xc3 at offset 1 is not printable ASCII");
    expect_no_client("non-ASCII address", lockstep_connect("h\xc3\xb6st:1", "w", NULL),
                     LOCKSTEP_ERR_ARGUMENT, "address: byte 0xc3");

    expect("options_init(NULL)", lockstep_options_init(NULL), LOCKSTEP_ERR_ARGUMENT, "NULL");
    lockstep_options_init(&options);
    options.size = 4;
    expect_no_client("options of size 4", lockstep_connect(address, "w", &options),
                     LOCKSTEP_ERR_ARGUMENT, "size is 4");
    lockstep_options_init(&options);
    options.tls_cert = "w.pem";
    expect_no_client("tls_cert without tls_ca", lockstep_connect(address, "w", &options),
                     LOCKSTEP_ERR_ARGUMENT, "need tls_ca");
    lockstep_options_init(&options);
    options.tls_ca = "/nonexistent/ca.pem";
    expect_no_client("a CA file that is not there", lockstep_connect(address, "w", &options),
                     LOCKSTEP_ERR_TLS, "/nonexistent/ca.pem");

    expect("run(NULL)", lockstep_run(NULL, step, NULL), LOCKSTEP_ERR_ARGUMENT, "client is NULL");
    expect("run_with_events(NULL)", lockstep_run_with_events(NULL, step, NULL, NULL),
           LOCKSTEP_ERR_ARGUMENT, "client is NULL");
    expect("next_event(NULL)", lockstep_next_event(NULL, 0, &event), LOCKSTEP_ERR_ARGUMENT,
           "client is NULL");
    expect("ack(NULL)", lockstep_ack(NULL), LOCKSTEP_ERR_ARGUMENT, "lockstep_ack: client");
    expect("working(NULL)", lockstep_working(NULL), LOCKSTEP_ERR_ARGUMENT, "client is NULL");
    expect("done(NULL)", lockstep_done(NULL), LOCKSTEP_ERR_ARGUMENT, "client is NULL");
    expect("leave(NULL)", lockstep_leave(NULL), LOCKSTEP_ERR_ARGUMENT, "client is NULL");
    expect("refuse(NULL)", lockstep_refuse(NULL, "no"), LOCKSTEP_ERR_ARGUMENT, "client is NULL");
    expect("step_error(NULL)", lockstep_step_error(NULL, "no"), LOCKSTEP_ERR_ARGUMENT,
           "client is NULL");
    lockstep_close(NULL);

    lockstep_client *client = lockstep_connect(address, "arguments", NULL);
    if (client == NULL) {
        printf("FAILED connect: %s\n", lockstep_last_error());
        return 1;
    }
    expect("run without a step", lockstep_run(client, NULL, NULL), LOCKSTEP_ERR_ARGUMENT,
           "step is NULL");
    expect("next_event into NULL", lockstep_next_event(client, 0, NULL), LOCKSTEP_ERR_ARGUMENT,
           "event is NULL");
    expect("refuse with NULL", lockstep_refuse(client, NULL), LOCKSTEP_ERR_ARGUMENT,
           "reason is NULL");
    expect("refuse in non-ASCII", lockstep_refuse(client, "na\xc3\xafve"),
           LOCKSTEP_ERR_ARGUMENT, "not printable ASCII");
    expect("step_error in non-ASCII", lockstep_step_error(client, "\xe2\x9c\x97"),
           LOCKSTEP_ERR_ARGUMENT, "not printable ASCII");
    expect("done before any Go", lockstep_done(client), LOCKSTEP_ERR_OUT_OF_TURN,
           "not allowed before the first step");
    expect("no event within 50 ms", lockstep_next_event(client, 50, &event), 0, NULL);
    expect("leave", lockstep_leave(client), LOCKSTEP_OK, NULL);
    expect("ack after leave", lockstep_ack(client), LOCKSTEP_ERR_OUT_OF_TURN,
           "lockstep_leave took it");
    expect("run after leave", lockstep_run(client, step, NULL), LOCKSTEP_ERR_OUT_OF_TURN,
           "lockstep_leave took it");
    lockstep_close(client);

    printf("%d failed\n", failures);
    return failures == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    int status = 2;
    if (argc >= 2 && strcmp(argv[1], "run") == 0) status = run(argc - 2, argv + 2);
    else if (argc >= 2 && strcmp(argv[1], "by-hand") == 0) status = by_hand(argc - 2, argv + 2);
    else if (argc >= 2 && strcmp(argv[1], "arguments") == 0) status = arguments(argc - 2, argv + 2);
    if (status == 2) fprintf(stderr, "usage: see the comment at the top of api.c\n");
    fflush(stdout);
    return status;
}
