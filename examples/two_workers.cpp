// Two workers advancing one shared toy model in lockstep, in C++ with lockstep.hpp: the twin
// of examples/two_workers.rs. A row of 31 cells evolves by rule 90 (every cell becomes the
// exclusive or of its two neighbours); worker "left" computes cells 0..16 of each new row and
// worker "right" cells 16..31, each on its own thread with its own client. A new row needs the
// whole previous one, so neither may start step n+1 before both finished step n, which is
// what the conductor guarantees. Start a conductor that waits for both and runs 15 steps, then
// this example:
//
//     cargo run --release -- --min-clients 2 --rounds 15
//     cargo build --release -p lockstep-capi
//     c++ -std=c++17 -pthread examples/two_workers.cpp -Iinclude -Ltarget/release
//         -llockstep -Wl,-rpath,target/release -o two_workers     (one line)
//     ./two_workers             # --port P for another conductor port
//
// It prints the 16 rows, a Sierpinski triangle.
#include <cstdint>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "lockstep.hpp"

namespace {

constexpr std::size_t width = 31;
using row = std::vector<bool>;

// The finished rows and the row being computed, shared by both workers.
class model {
public:
    model() : rows_{row(width)}, next_(width) {
        rows_[0][width / 2] = true;
        next_ = rows_[0];
    }

    // Computes cells [first, end) of the new row for `step` from the last finished row.
    void advance(std::uint32_t step, std::size_t first, std::size_t end) {
        std::lock_guard<std::mutex> hold(lock_);
        if (step_ != step) {
            // The first worker into a step files the row of the step before; both workers
            // finished it, since the conductor sends this step's Go only when all are Done.
            if (step_) rows_.push_back(next_);
            step_ = step;
        }
        const row &last = rows_.back();
        for (std::size_t i = first; i < end; i++) {
            next_[i] = last[(i + width - 1) % width] != last[(i + 1) % width];
        }
    }

    // The rows as text, the row of the last step included.
    std::string picture() const {
        std::vector<row> all = rows_;
        if (step_) all.push_back(next_);
        std::string text;
        for (const row &r : all) {
            std::string line;
            for (bool cell : r) line += cell ? '#' : ' ';
            line.erase(line.find_last_not_of(' ') + 1);
            text += line + '\n';
        }
        return text;
    }

private:
    std::mutex lock_;
    std::vector<row> rows_;
    row next_;
    std::optional<std::uint32_t> step_;
};

}  // namespace

int main(int argc, char **argv) {
    std::string port = "7878";
    if (argc == 3 && std::string(argv[1]) == "--port") {
        port = argv[2];
    } else if (argc != 1) {
        std::cerr << "usage: two_workers [--port P]\n";
        return 2;
    }
    const std::string address = "127.0.0.1:" + port;
    model shared;
    struct half {
        const char *id;
        std::size_t first, end;
    };
    const half halves[] = {{"left", 0, width / 2 + 1}, {"right", width / 2 + 1, width}};
    std::vector<std::string> errors(2);
    std::vector<std::thread> workers;
    for (std::size_t n = 0; n < 2; n++) {
        workers.emplace_back([&, n] {
            const half &h = halves[n];
            try {
                lockstep::client client(address, h.id);
                client.run([&](std::uint32_t step) { shared.advance(step, h.first, h.end); });
            } catch (const std::exception &e) {
                errors[n] = std::string(h.id) + ": " + e.what();
            }
        });
    }
    for (std::thread &w : workers) w.join();
    bool failed = false;
    for (const std::string &e : errors) {
        if (!e.empty()) {
            std::cerr << "two_workers: " << e << '\n';
            failed = true;
        }
    }
    if (failed) return 1;
    std::cout << shared.picture();
    return 0;
}
