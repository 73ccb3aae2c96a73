// lockstep.hpp: a Lockstep participant in C++ (17 or later), header-only over lockstep.h.
// Link with -llockstep, as for C.
//
//     lockstep::client worker("127.0.0.1:7878", "worker-1");
//     worker.run([&](std::uint32_t step) { advance_my_model(step); });
//
// lockstep::client owns a connection (RAII: the destructor leaves and frees it; it can be
// moved, not copied). Failures throw lockstep::error, which carries the C API's code and the
// library's words. An exception thrown by the step function refuses the step with
// "step N: <what()>" and comes out of run() once the refusal is sent. Threading is the C API's
// (see lockstep.h): one thread per client, except working(), which any thread may call.
#ifndef LOCKSTEP_HPP
#define LOCKSTEP_HPP

#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "lockstep.h"

namespace lockstep {

// A failed call: code() is one of the LOCKSTEP_ERR_* values, what() the library's words.
class error : public std::runtime_error {
public:
    error(int code, const std::string &message) : std::runtime_error(message), code_(code) {}
    int code() const noexcept { return code_; }

private:
    int code_;
};

namespace detail {
// Throws the calling thread's last failure when `code` is not LOCKSTEP_OK.
inline void check(int code) {
    if (code != LOCKSTEP_OK) throw error(code, lockstep_last_error());
}
}  // namespace detail

// How to connect; the defaults are the C API's (heartbeat 1 s, hello timeout 10 s, outages
// ridden out for 30 s, no TLS). TLS is on when tls_ca is given.
struct options {
    std::chrono::milliseconds heartbeat{1000};  // 0: no W during a step
    std::chrono::milliseconds hello_timeout{10000};
    std::chrono::milliseconds reconnect{30000};  // 0: a lost connection is the end
    std::string tls_ca;           // PEM file of the CA to trust
    std::string tls_cert;         // PEM file of this participant's certificate (with tls_key)
    std::string tls_key;          // PEM file of its private key
    std::string tls_server_name;  // the name in the conductor's certificate, if not the host
};

// One thing the conductor said (see lockstep_event in lockstep.h), with its text copied.
struct event {
    lockstep_event_kind kind;
    std::uint32_t number;  // the step of a Go, the steps left of a countdown
    std::string text;      // in plain words
    std::string reason;    // a refusal's reason; empty otherwise

    explicit event(const lockstep_event &e)
        : kind(e.kind), number(e.number), text(e.text), reason(e.reason ? e.reason : "") {}
};

// A participant connected to a conductor.
class client {
public:
    client(const std::string &address, const std::string &id, const options &opts = options()) {
        lockstep_options c;
        detail::check(lockstep_options_init(&c));
        c.heartbeat_ms = static_cast<std::uint32_t>(opts.heartbeat.count());
        c.hello_timeout_ms = static_cast<std::uint32_t>(opts.hello_timeout.count());
        c.reconnect_ms = static_cast<std::uint32_t>(opts.reconnect.count());
        auto text = [](const std::string &s) { return s.empty() ? nullptr : s.c_str(); };
        c.tls_ca = text(opts.tls_ca);
        c.tls_cert = text(opts.tls_cert);
        c.tls_key = text(opts.tls_key);
        c.tls_server_name = text(opts.tls_server_name);
        handle_ = lockstep_connect(address.c_str(), id.c_str(), &c);
        if (handle_ == nullptr) throw error(lockstep_last_error_code(), lockstep_last_error());
    }

    ~client() { lockstep_close(handle_); }

    client(client &&other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    client &operator=(client &&other) noexcept {
        if (this != &other) {
            lockstep_close(handle_);
            handle_ = std::exchange(other.handle_, nullptr);
        }
        return *this;
    }
    client(const client &) = delete;
    client &operator=(const client &) = delete;

    // Runs until the conductor ends the session, calling step(number) for each step (K
    // before it, W every heartbeat during it, Done after it). An exception from step refuses
    // the step with "step N: <what()>" and is rethrown here; other failures throw
    // lockstep::error. The broadcasts T, S n, C and E are printed to stderr. A connection lost
    // without a goodbye is ridden out for options::reconnect: a step the restarted conductor
    // sends again is not run again (then LOCKSTEP_ERR_CONDUCTOR_GONE after the window).
    template <class Step>
    void run(Step &&step) {
        call<Step> state{step, handle_, nullptr};
        int code = lockstep_run(handle_, &call<Step>::trampoline, &state);
        if (state.thrown) std::rethrow_exception(state.thrown);
        detail::check(code);
    }

    // The next event, waiting as long as it takes.
    event next_event() { return *wait(-1); }

    // The next event, or nothing if none arrives within `timeout`.
    std::optional<event> next_event(std::chrono::milliseconds timeout) {
        auto ms = timeout.count();
        return wait(ms < 0 ? 0 : ms > INT32_MAX ? INT32_MAX : static_cast<std::int32_t>(ms));
    }

    void ack() { detail::check(lockstep_ack(handle_)); }
    void working() { detail::check(lockstep_working(handle_)); }
    void done() { detail::check(lockstep_done(handle_)); }
    void leave() { detail::check(lockstep_leave(handle_)); }
    void refuse(const std::string &reason) {
        detail::check(lockstep_refuse(handle_, reason.c_str()));
    }

    // The C handle, for calls this wrapper does not cover. It stays this object's.
    lockstep_client *get() const noexcept { return handle_; }

private:
    template <class Step>
    struct call {
        Step &step;
        lockstep_client *handle;
        std::exception_ptr thrown;

        static int trampoline(std::uint32_t number, void *user) {
            auto *self = static_cast<call *>(user);
            try {
                self->step(number);
                return 0;
            } catch (const std::exception &e) {
                // Text that is not printable ASCII falls back to "callback returned 1".
                lockstep_step_error(self->handle, e.what());
                self->thrown = std::current_exception();
            } catch (...) {
                self->thrown = std::current_exception();
            }
            return 1;
        }
    };

    std::optional<event> wait(std::int32_t timeout_ms) {
        lockstep_event e;
        int got = lockstep_next_event(handle_, timeout_ms, &e);
        if (got < 0) detail::check(got);
        if (got == 0) return std::nullopt;
        return event(e);
    }

    lockstep_client *handle_ = nullptr;
};

}  // namespace lockstep

#endif  // LOCKSTEP_HPP
