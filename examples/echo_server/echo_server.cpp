// A TCP echo server: one event loop per thread, all listening on the same port through
// SO_REUSEPORT (the kernel spreads the connections over the loops; no work is shared between
// threads). Runs until SIGINT or SIGTERM (loop.add_signal_handler), then closes its servers
// and their connections. The benchmark's duet servers (bench/run.py, families echo and echo_mt).
//
//   echo_server [--host H] [--port P] [--threads N] [--streams] [--self-test]
//
// Protocol server (default): data_received -> transport.write. --streams: start_server with
// a coroutine per connection doing read(64 KiB) -> write -> drain. --self-test: listens on a
// free port, runs a few clients against itself, stops itself with SIGINT, exits 0 if every
// echo came back intact.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <duet/duet.hpp>

namespace {

struct options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8888;
    int threads = 1;
    bool streams = false;
    bool self_test = false;
};

constexpr std::size_t read_size = 64 * 1024;

// ---- the two echo servers

class echo_protocol final : public duet::protocol {
public:
    explicit echo_protocol(std::atomic<int>& accepted) : accepted_(accepted) {}
    void connection_made(std::shared_ptr<duet::transport> t) override {
        accepted_.fetch_add(1, std::memory_order_relaxed);
        transport_ = std::move(t);
    }
    void data_received(std::string_view data) override { transport_->write(data); }
    // The transport holds this protocol until here; our reference to it goes too.
    void connection_lost(std::exception_ptr) override { transport_.reset(); }

private:
    std::atomic<int>& accepted_;
    std::shared_ptr<duet::transport> transport_;
};

duet::coro<void> echo_stream(std::atomic<int>& accepted, duet::stream_reader reader, duet::stream_writer writer) {
    accepted.fetch_add(1, std::memory_order_relaxed);
    try {
        for (;;) {
            std::string data = co_await reader.read(read_size);
            if (data.empty()) break;  // EOF
            writer.write(data);
            co_await writer.drain();
        }
    } catch (const std::system_error&) {
        // The peer reset the connection (asyncio's ConnectionError): nothing left to do.
    }
    writer.close();
}

// ---- the loops, one per thread, and stopping them all

// What the threads share; outlives them all.
struct shared_state {
    explicit shared_state(const options& o)
        : opts(o), ready(o.threads), accepted(static_cast<std::size_t>(o.threads)) {}
    const options opts;
    std::latch ready;  // every server listens (or failed)
    std::vector<std::atomic<int>> accepted;
    std::atomic<std::uint16_t> port{0};

    std::mutex m;
    bool stopping = false;
    std::string error;  // the first failure
    std::vector<std::pair<duet::abstract_event_loop*, duet::event*>> running;

    // A loop whose server listens: stop_all() sets its event from now on. Loop thread.
    void join(duet::abstract_event_loop& loop, duet::event& stop) {
        std::lock_guard<std::mutex> g(m);
        if (stopping)
            stop.set();
        else
            running.emplace_back(&loop, &stop);
    }
    // Before the loop closes (never called on a closed loop). Loop thread.
    void leave(duet::abstract_event_loop& loop) {
        std::lock_guard<std::mutex> g(m);
        std::erase_if(running, [&](const auto& r) { return r.first == &loop; });
    }
    // Any thread.
    void stop_all() {
        std::lock_guard<std::mutex> g(m);
        stopping = true;
        for (const auto& r : running) {
            duet::event* ev = r.second;
            r.first->call_soon_threadsafe([ev] { ev->set(); });
        }
        running.clear();
    }
    void fail(std::string what) {
        {
            std::lock_guard<std::mutex> g(m);
            if (error.empty()) error = std::move(what);
        }
        stop_all();
    }
};

duet::coro<std::shared_ptr<duet::server>> listen(shared_state& s, int index, std::uint16_t port) {
    duet::server_options so;
    so.backlog = 1024;
    so.reuse_port = s.opts.threads > 1;
    auto& accepted = s.accepted[static_cast<std::size_t>(index)];
    if (s.opts.streams) {
        co_return co_await duet::start_server(
            [&accepted](duet::stream_reader r, duet::stream_writer w) {
                return echo_stream(accepted, std::move(r), std::move(w));
            },
            s.opts.host, port, duet::stream_default_limit, so);
    }
    auto& loop = duet::get_running_loop();
    co_return co_await loop.create_server([&accepted] { return std::make_shared<echo_protocol>(accepted); },
                                          s.opts.host, port, so);
}

// Closes the server and its connections; wait_closed waits for them (asyncio 3.12+).
duet::coro<void> shut_down(duet::server& srv) {
    srv.close();
    srv.close_clients();
    co_await duet::wait_for(srv.wait_closed(), 5.0);
}

// Threads 1..N-1: a loop serving the port thread 0 bound, until stopped.
duet::coro<void> follower(shared_state& s, int index) {
    auto& loop = duet::get_running_loop();
    std::shared_ptr<duet::server> srv;
    try {
        srv = co_await listen(s, index, s.port.load());
    } catch (const std::exception& e) {
        s.fail("thread " + std::to_string(index) + ": " + e.what());
    }
    s.ready.count_down();
    if (!srv) co_return;
    duet::event stop;
    s.join(loop, stop);
    co_await stop.wait();
    s.leave(loop);
    co_await shut_down(*srv);
}

duet::coro<void> self_test(shared_state& s);

// Thread 0 (the main thread): binds first (so that port 0 is resolved once), starts the
// other threads, handles the signals.
duet::coro<void> leader(shared_state& s, std::vector<std::thread>& threads) {
    auto& loop = duet::get_running_loop();
    auto srv = co_await listen(s, 0, s.opts.port);
    s.port = srv->sockets().at(0).port;
    for (int i = 1; i < s.opts.threads; ++i) threads.emplace_back([&s, i] { duet::run(follower(s, i)); });
    s.ready.count_down();
    s.ready.wait();  // the others bind at once: a short block of this thread
    duet::event stop;
    s.join(loop, stop);
    for (int sig : {SIGINT, SIGTERM}) loop.add_signal_handler(sig, [&s] { s.stop_all(); });
    std::printf("Serving on %s (%d thread%s, %s)\n", srv->sockets().at(0).to_string().c_str(), s.opts.threads,
                s.opts.threads == 1 ? "" : "s", s.opts.streams ? "streams" : "protocol");
    std::fflush(stdout);

    std::optional<duet::task<void>> test;
    if (s.opts.self_test) test = loop.create_task(self_test(s));
    co_await stop.wait();
    s.leave(loop);
    for (int sig : {SIGINT, SIGTERM}) loop.remove_signal_handler(sig);
    co_await shut_down(*srv);
    if (test) co_await *test;
}

// ---- --self-test: clients on thread 0's loop, messages of 1 B to 128 KiB

duet::coro<bool> client(const shared_state& s, int id, int messages) {
    auto [reader, writer] = co_await duet::open_connection(s.opts.host, s.port.load());
    bool ok = true;
    for (int i = 0; i < messages && ok; ++i) {
        std::string msg(std::size_t{1} << ((id + i) % 18), static_cast<char>('a' + (id + i) % 26));
        writer.write(msg);
        co_await writer.drain();
        ok = co_await reader.readexactly(static_cast<std::ptrdiff_t>(msg.size())) == msg;
    }
    writer.close();
    co_await writer.wait_closed();
    co_return ok;
}

duet::coro<void> self_test(shared_state& s) {
    constexpr int clients = 20, messages = 10;
    try {
        std::vector<duet::coro<bool>> all;
        for (int id = 0; id < clients; ++id) all.push_back(client(s, id, messages));
        std::vector<bool> ok = co_await duet::wait_for(duet::gather(std::move(all)), 30.0);
        int good = 0;
        for (bool b : ok) good += b ? 1 : 0;
        std::printf("self-test: %d of %d clients got their %d echoes back intact; connections per thread:", good,
                    clients, messages);
        for (auto& a : s.accepted) std::printf(" %d", a.load());
        std::printf("\n");
        if (good != clients) s.fail("self-test: an echo came back wrong");
    } catch (const std::exception& e) {
        s.fail(std::string("self-test: ") + e.what());
    }
    // Stop the way an operator would: through the signal handler.
    std::fflush(stdout);
    std::raise(SIGINT);
}

void usage(FILE* to) {
    std::fputs("usage: echo_server [--host H] [--port P] [--threads N] [--streams] [--self-test]\n", to);
}

bool parse(int argc, char** argv, options& o) {
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
        if (a == "--host") {
            const char* v = value();
            if (!v) return false;
            o.host = v;
        } else if (a == "--port") {
            const char* v = value();
            if (!v) return false;
            long p = std::strtol(v, nullptr, 10);
            if (p < 0 || p > 65535) return false;
            o.port = static_cast<std::uint16_t>(p);
        } else if (a == "--threads") {
            const char* v = value();
            if (!v) return false;
            o.threads = static_cast<int>(std::strtol(v, nullptr, 10));
            if (o.threads < 1 || o.threads > 256) return false;
        } else if (a == "--streams") {
            o.streams = true;
        } else if (a == "--self-test") {
            o.self_test = true;
        } else {
            return false;
        }
    }
    if (o.self_test) o.port = 0;
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    if (argc == 2 && (std::strcmp(argv[1], "-h") == 0 || std::strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (!parse(argc, argv, o)) {
        usage(stderr);
        return 2;
    }
    shared_state s(o);
    std::vector<std::thread> threads;
    try {
        duet::run(leader(s, threads));
    } catch (const std::exception& e) {
        s.fail(e.what());  // stops the other threads too
    }
    for (auto& t : threads) t.join();
    if (!s.error.empty()) {
        std::fprintf(stderr, "echo_server: %s\n", s.error.c_str());
        return 1;
    }
    return 0;
}
