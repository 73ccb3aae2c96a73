// lockstep.hpp as a C++ program uses it, for tests/capi.rs:
//
//   wrapper throw ADDRESS ID N    run() with a lambda that throws at step N: prints each step,
//                                 then "caught: WHAT" when the exception comes out of run()
//   wrapper connect ADDRESS ID    connects and prints "connected", or "error CODE: WHAT"
//   wrapper by-hand ADDRESS ID    next_event() with a timeout, ack(), done() until X
#include <chrono>
#include <cstdint>
#include <iostream>
#include <stdexcept>
#include <string>

#include "lockstep.hpp"

namespace {

int throw_at(const std::string &address, const std::string &id, std::uint32_t at) {
    lockstep::client client(address, id);
    try {
        client.run([&](std::uint32_t step) {
            std::cout << "step " << step << std::endl;
            if (step == at) throw std::runtime_error("the model diverged");
        });
    } catch (const std::runtime_error &e) {
        std::cout << "caught: " << e.what() << std::endl;
        return 0;
    }
    std::cout << "run() ended without the exception" << std::endl;
    return 1;
}

int by_hand(const std::string &address, const std::string &id) {
    lockstep::options options;
    options.reconnect = std::chrono::milliseconds(5000);
    lockstep::client client(address, id, options);
    for (;;) {
        std::optional<lockstep::event> event = client.next_event(std::chrono::milliseconds(50));
        if (!event) continue;  // nothing within 50 ms: wait again
        if (event->kind == LOCKSTEP_EVENT_GO) {
            std::cout << "go " << event->number << std::endl;
            client.ack();
            client.done();
        } else {
            std::cout << "event: " << event->text << std::endl;
            if (event->kind == LOCKSTEP_EVENT_EXIT) return 0;
        }
    }
}

}  // namespace

int main(int argc, char **argv) {
    if (argc < 4) return 2;
    const std::string what = argv[1], address = argv[2], id = argv[3];
    try {
        if (what == "throw" && argc == 5) return throw_at(address, id, std::stoul(argv[4]));
        if (what == "by-hand") return by_hand(address, id);
        if (what == "connect") {
            lockstep::client client(address, id);
            lockstep::client moved = std::move(client);
            std::cout << "connected " << (client.get() == nullptr) << std::endl;
            return 0;
        }
    } catch (const lockstep::error &e) {
        std::cout << "error " << e.code() << ": " << e.what() << std::endl;
        return 1;
    }
    return 2;
}
