/*
 * lockstep.h: a Lockstep participant in C (and C++, and Fortran through iso_c_binding).
 *
 * Link with -llockstep (liblockstep.so, or liblockstep.a with -lpthread -ldl -lm). The
 * protocol is described in the repository's PROTOCOL.md.
 *
 *     lockstep_client *c = lockstep_connect("127.0.0.1:7878", "worker-1", NULL);
 *     if (c == NULL) { fprintf(stderr, "%s\n", lockstep_last_error()); return 1; }
 *     int rc = lockstep_run(c, my_step, &my_model);   // 0 after the conductor's end
 *     if (rc != LOCKSTEP_OK) fprintf(stderr, "%s\n", lockstep_last_error());
 *     lockstep_close(c);
 *
 * Errors. Every call that can fail returns LOCKSTEP_OK (0), a positive count where it says so,
 * or one of the negative LOCKSTEP_ERR_* codes; lockstep_connect returns NULL instead (and
 * lockstep_last_error_code() gives the code). lockstep_last_error() gives the message, in
 * words that say what happened and when
 * ("refused by the conductor before the first step: duplicate id worker-1"). NULL pointers, ids
 * that are not 1 to 12 printable ASCII characters, and text that is not printable ASCII are
 * LOCKSTEP_ERR_ARGUMENT, never a crash; a bug inside the library is LOCKSTEP_ERR_INTERNAL.
 *
 * Ownership. A lockstep_client belongs to the program from lockstep_connect until
 * lockstep_close, which frees it (after which the pointer must not be used). Strings passed in
 * stay the program's and are copied or read during the call. Strings coming out belong to the
 * library: lockstep_last_error()'s until the next failing call on the same thread, an event's
 * until the next lockstep_next_event on the same client or its lockstep_close (an event given
 * to a callback, until the callback returns), lockstep_version()'s forever. Never free them.
 *
 * Threading. A client is used by one thread at a time: calls on it from several threads wait
 * for each other (lockstep_next_event holds the client until an event arrives). The exceptions:
 * lockstep_working may be called from any thread at any time, even while another waits in
 * lockstep_next_event or runs lockstep_run; lockstep_step_error may be called from the step
 * callback's thread; lockstep_close must not overlap with any call on the same client.
 * Different clients are independent: one thread per participant is the usual shape.
 * lockstep_run calls the step callback on the calling thread and runs one helper thread of its
 * own, which sends W every heartbeat while the callback runs. Callbacks must return normally:
 * no longjmp and no C++ exception may leave them.
 */

#ifndef LOCKSTEP_H
#define LOCKSTEP_H

/* Generated from crates/capi by cbindgen: change the Rust code, then run
 * `LOCKSTEP_BLESS=1 cargo test -p lockstep-capi --test header` to rewrite this file. */

#include <stdint.h>

/**
 * What kind of event a `lockstep_event` is.
 */
typedef enum lockstep_event_kind {
  /**
   * `!`: start the step in `number`. Answer with `lockstep_ack`, then `lockstep_done`.
   */
  LOCKSTEP_EVENT_GO = 1,
  /**
   * `T`: the round is taking longer than expected.
   */
  LOCKSTEP_EVENT_SLOW = 2,
  /**
   * `S n`: the conductor will end after `number` more steps, counting the next one.
   */
  LOCKSTEP_EVENT_SHUTTING_DOWN = 3,
  /**
   * `C`: the operator ends the run; `X` follows.
   */
  LOCKSTEP_EVENT_CEASE = 4,
  /**
   * `E`: the conductor is shutting down because of an error; `X` follows.
   */
  LOCKSTEP_EVENT_ERROR_SHUTDOWN = 5,
  /**
   * `X`: the conductor closes the connection. The session is over.
   */
  LOCKSTEP_EVENT_EXIT = 6,
  /**
   * `R`: the conductor refused this participant (`reason` says why) and closes the connection.
   */
  LOCKSTEP_EVENT_REFUSED = 7,
  /**
   * The first Go after a reconnection was for the step in `number`, completed before the
   * connection was lost: Done is already sent. Do not run the step again.
   */
  LOCKSTEP_EVENT_REPEATED = 8,
} lockstep_event_kind;

/**
 * What a call came to: `LOCKSTEP_OK` or a negative error code. The calls return these values
 * as `int`.
 */
typedef enum lockstep_status {
  /**
   * Success.
   */
  LOCKSTEP_OK = 0,
  /**
   * An argument cannot be used: a NULL pointer, an id that is not 1 to 12 printable ASCII
   * characters, text that is not printable ASCII, options of an unknown size or with settings
   * that make no sense.
   */
  LOCKSTEP_ERR_ARGUMENT = -1,
  /**
   * No session could start: the address does not resolve, nobody listens there, or the
   * conductor sent no hello in time.
   */
  LOCKSTEP_ERR_CONNECT = -2,
  /**
   * The conductor refused this participant (`R`): an address outside its `allow` list, a
   * duplicate id, a full conductor, a broken rule. The message carries its reason.
   */
  LOCKSTEP_ERR_REFUSED = -3,
  /**
   * The conductor shut down because of an error (`E`).
   */
  LOCKSTEP_ERR_CONDUCTOR_FAILED = -4,
  /**
   * The connection closed or broke without the conductor saying goodbye, and the options
   * said not to reconnect (`reconnect_ms` 0).
   */
  LOCKSTEP_ERR_CONNECTION_LOST = -5,
  /**
   * The conductor broke the protocol, or speaks another version of it.
   */
  LOCKSTEP_ERR_PROTOCOL = -6,
  /**
   * TLS failed: settings or files that cannot be used, a certificate refused on either side,
   * or a conductor that does not speak TLS.
   */
  LOCKSTEP_ERR_TLS = -7,
  /**
   * The step callback returned non-zero: the step was refused (`step N: ...`) and the
   * participant has ended.
   */
  LOCKSTEP_ERR_STEP_FAILED = -8,
  /**
   * The call is not allowed now, and nothing was sent: Done with no step in progress, a client
   * that `lockstep_run`, `lockstep_leave` or `lockstep_refuse` has taken.
   */
  LOCKSTEP_ERR_OUT_OF_TURN = -9,
  /**
   * A bug in this library, caught before it reached the program. The message says what.
   */
  LOCKSTEP_ERR_INTERNAL = -10,
  /**
   * The connection was lost without the conductor saying goodbye and the conductor did not
   * come back within the reconnect window (`reconnect_ms`). The message says when the
   * connection was lost and why the last try to reconnect failed.
   */
  LOCKSTEP_ERR_CONDUCTOR_GONE = -11,
} lockstep_status;

/**
 * A participant connected to a conductor. Opaque: made by `lockstep_connect`, freed by
 * `lockstep_close`.
 */
typedef struct lockstep_client lockstep_client;

/**
 * How to connect. Fill it with `lockstep_options_init`, then change the fields you need; the
 * strings are read during `lockstep_connect` only and stay the program's.
 */
typedef struct lockstep_options {
  /**
   * `sizeof(lockstep_options)` as the program was compiled: set by
   * `lockstep_options_init`. Fields added in later versions go at the end; the library
   * takes their defaults when the program's struct is shorter.
   */
  uint32_t size;
  /**
   * How often `lockstep_run` sends `W` while a step callback runs, in milliseconds; 0 sends
   * none. Default 1000, well under the conductor's default `probe_after_ms` of 5000.
   */
  uint32_t heartbeat_ms;
  /**
   * How long `lockstep_connect` waits for the conductor's hello (and, over TLS, the
   * handshake), in milliseconds; 0 means the default, 10000.
   */
  uint32_t hello_timeout_ms;
  /**
   * How long a connection lost without the conductor's goodbye (the conductor was killed
   * or restarted) is ridden out, in milliseconds: the client connects again with backoff
   * (at most 1 s between tries), says hello with the same id and carries on, announcing the
   * outage in one line on stderr; a step sent again is answered without running it
   * (`LOCKSTEP_EVENT_REPEATED`). After the window: `LOCKSTEP_ERR_CONDUCTOR_GONE`. 0: a lost
   * connection is the end (`LOCKSTEP_ERR_CONNECTION_LOST`). Default 30000.
   */
  uint32_t reconnect_ms;
  /**
   * Speak TLS, trusting the CA certificates in this PEM file for the conductor's
   * certificate; NULL for the plain protocol.
   */
  const char *tls_ca;
  /**
   * The participant's certificate chain (PEM file), shown when the conductor asks for one;
   * needs `tls_key`. NULL for none.
   */
  const char *tls_cert;
  /**
   * The private key (PEM file) of `tls_cert`. NULL for none.
   */
  const char *tls_key;
  /**
   * The name (DNS name or IP address) the conductor's certificate must carry, when it is
   * not the host in the address. NULL for the host.
   */
  const char *tls_server_name;
} lockstep_options;

/**
 * One thing the conductor said. Its strings belong to the client: they stay valid until the
 * next `lockstep_next_event` on it, or `lockstep_close` (and for the events `lockstep_run`
 * passes on, until the callback returns). The struct keeps this layout in later versions.
 */
typedef struct lockstep_event {
  /**
   * What the conductor said.
   */
  enum lockstep_event_kind kind;
  /**
   * The step for `LOCKSTEP_EVENT_GO` and `LOCKSTEP_EVENT_REPEATED`, the steps left for
   * `LOCKSTEP_EVENT_SHUTTING_DOWN`, otherwise 0.
   */
  uint32_t number;
  /**
   * The event in plain words (`"shutting down after 3 more steps"`), the words the
   * conductor's log and `conductor join` use. Never NULL.
   */
  const char *text;
  /**
   * For `LOCKSTEP_EVENT_REFUSED`, the conductor's reason; otherwise NULL.
   */
  const char *reason;
} lockstep_event;

/**
 * A step callback: called with the step number and the `user` pointer given to
 * `lockstep_run`; returns 0 when the step's work is done, anything else to refuse the step.
 */
typedef int (*lockstep_step_fn)(uint32_t step, void *user);

/**
 * An event callback: called with each event other than Go, and the `user` pointer given to
 * `lockstep_run_with_events`. The event and its strings are valid during the call only.
 */
typedef void (*lockstep_event_fn)(const struct lockstep_event *event, void *user);

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * This library's version, as text (`"0.1.0"`): the workspace's version. The string is static.
 */
const char *lockstep_version(void);

/**
 * The message of the last failed call on the calling thread, or `""` if none failed yet.
 * Calls that succeed leave it as it is. The text belongs to the library and stays valid until
 * the next failing call on the same thread (or the thread's end): copy it to keep it. Never
 * NULL.
 */
const char *lockstep_last_error(void);

/**
 * The code of the last failed call on the calling thread (a negative `LOCKSTEP_ERR_*`), or
 * `LOCKSTEP_OK` if none failed yet: what `lockstep_connect` would have returned had it
 * returned a code.
 */
int lockstep_last_error_code(void);

/**
 * Fills `options` with the defaults: heartbeat 1000 ms, hello timeout 10000 ms, reconnect
 * window 30000 ms, no TLS. Returns
 * `LOCKSTEP_OK`, or `LOCKSTEP_ERR_ARGUMENT` when `options` is NULL.
 *
 * # Safety
 * `options` is NULL or points to writable memory for a `lockstep_options`.
 */
int lockstep_options_init(struct lockstep_options *options);

/**
 * Connects to the conductor at `address` (`host:port`, printable ASCII) as `id` (1 to 12
 * printable ASCII characters, not all spaces) and waits for its hello. `options` may be NULL
 * for the defaults (see `lockstep_options`). Returns a client for the other calls, to be freed
 * with `lockstep_close`; NULL on failure, with the reason in `lockstep_last_error` (an
 * address outside the conductor's `allow` list is refused here; a refusal of the hello itself,
 * such as a duplicate id, comes as the first event).
 *
 * # Safety
 * `address` and `id` are NULL or NUL-terminated; `options` is NULL or a `lockstep_options`
 * filled by `lockstep_options_init` (or of the size its `size` field says).
 */
struct lockstep_client *lockstep_connect(const char *address, const char *id, const struct lockstep_options *options);

/**
 * Frees `client`. If the program still holds its connection (no `lockstep_run`,
 * `lockstep_leave` or `lockstep_refuse` took it), it leaves first with `X`. NULL does nothing.
 * No other call on this client may be running or follow; the strings of its events are freed.
 *
 * # Safety
 * `client` is NULL or a pointer from `lockstep_connect` not yet given to `lockstep_close`, and
 * no other thread uses it.
 */
void lockstep_close(struct lockstep_client *client);

/**
 * Waits for the conductor's next event, at most `timeout_ms` milliseconds (a negative value
 * waits as long as it takes), answering its probes meanwhile. Returns 1 with the event in
 * `*event`, 0 when the time passed without one, or a negative error code (a lost connection,
 * `LOCKSTEP_ERR_OUT_OF_TURN` once `lockstep_run`, `lockstep_leave` or `lockstep_refuse` took
 * the client). The hello and probes are handled inside and never returned.
 *
 * A connection lost without a goodbye is ridden out for `reconnect_ms` (see
 * `lockstep_options`): the call reconnects and waits on; the first Go after it, if for the
 * step completed last, comes as `LOCKSTEP_EVENT_REPEATED` (Done is already sent: do not run
 * the step again). A loss found while a step is in progress returns
 * `LOCKSTEP_ERR_CONNECTION_LOST` once; finish the step and call `lockstep_done` (nothing is
 * sent), and the next call reconnects.
 *
 * # Safety
 * `client` is NULL or a live client; `event` is NULL or writable.
 */
int lockstep_next_event(struct lockstep_client *client, int32_t timeout_ms, struct lockstep_event *event);

/**
 * Sends `K`: the Go was received and work starts. Returns `LOCKSTEP_OK` or a negative code.
 *
 * # Safety
 * `client` is NULL or a live client.
 */
int lockstep_ack(struct lockstep_client *client);

/**
 * Sends `W`: still working on the step in progress. Unlike the other calls it may come from
 * any thread at any time, even while another thread waits in `lockstep_next_event` or runs
 * `lockstep_run`: a heartbeat thread of the program's own. Returns `LOCKSTEP_OK` or a
 * negative code.
 *
 * # Safety
 * `client` is NULL or a live client.
 */
int lockstep_working(struct lockstep_client *client);

/**
 * Sends Done for the step in progress. Returns `LOCKSTEP_OK` or a negative code.
 *
 * # Safety
 * `client` is NULL or a live client.
 */
int lockstep_done(struct lockstep_client *client);

/**
 * Leaves with `X` and waits briefly (2 s at most) for the conductor to close the connection.
 * The client can then only be closed. Returns `LOCKSTEP_OK` or a negative code.
 *
 * # Safety
 * `client` is NULL or a live client.
 */
int lockstep_leave(struct lockstep_client *client);

/**
 * Refuses to go on: sends `R` with `reason` (printable ASCII, cut to 531 bytes) and waits
 * briefly (2 s at most) for the conductor to close the connection. The client can then only
 * be closed. Returns `LOCKSTEP_OK` or a negative code.
 *
 * # Safety
 * `client` is NULL or a live client; `reason` is NULL or NUL-terminated.
 */
int lockstep_refuse(struct lockstep_client *client, const char *reason);

/**
 * Runs the participant until the conductor ends the session: for each Go, `K`, then
 * `step(number, user)` on the calling thread while a helper thread sends `W` every heartbeat
 * (`heartbeat_ms` of the options), then Done. A non-zero return from `step` refuses the step
 * with `step N: callback returned V` (or the text given to `lockstep_step_error` during the
 * call) and ends the run with `LOCKSTEP_ERR_STEP_FAILED`. The broadcasts `T`, `S n`, `C` and
 * `E` are printed to stderr (`lockstep: worker-1: the conductor says: shutting down after 3
 * more steps`); `lockstep_run_with_events` hands them to a callback instead. A connection
 * lost without a goodbye is ridden out for `reconnect_ms` (see `lockstep_options`): a step
 * the restarted conductor sends again is answered without calling `step`, so `step` runs at
 * most once per step number.
 *
 * Returns `LOCKSTEP_OK` after the conductor's normal end (`C` or `X`); otherwise a negative
 * code: `LOCKSTEP_ERR_REFUSED` (a duplicate id, `full`), `LOCKSTEP_ERR_CONDUCTOR_FAILED`,
 * `LOCKSTEP_ERR_CONDUCTOR_GONE` (after the reconnect window), `LOCKSTEP_ERR_CONNECTION_LOST`
 * (with `reconnect_ms` 0), .... The run takes the client: afterwards only
 * `lockstep_close` remains to be called. `step` must return (not `longjmp`, not throw).
 *
 * # Safety
 * `client` is NULL or a live client; `step` is NULL or a function of this type; `user` is
 * whatever `step` expects.
 */
int lockstep_run(struct lockstep_client *client, lockstep_step_fn step, void *user);

/**
 * Like `lockstep_run`, handing every event other than Go (`T`, `S n`, `C`, `E`, `X`, `R`, and
 * `LOCKSTEP_EVENT_REPEATED` after a reconnection) to
 * `on_event` with `user` instead of printing any; NULL drops them.
 *
 * # Safety
 * As for `lockstep_run`; `on_event` is NULL or a function of its type.
 */
int lockstep_run_with_events(struct lockstep_client *client, lockstep_step_fn step, lockstep_event_fn on_event, void *user);

/**
 * Gives the text of the refusal should the running step's callback return non-zero: the
 * conductor then reads `step N: <text>` instead of `step N: callback returned V`. Call it from
 * the step callback (any thread will do); the text is copied. `text` must be printable ASCII;
 * the whole reason is cut to 531 bytes. Returns `LOCKSTEP_OK` or a negative code.
 *
 * # Safety
 * `client` is NULL or a live client; `text` is NULL or NUL-terminated.
 */
int lockstep_step_error(struct lockstep_client *client, const char *text);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* LOCKSTEP_H */
