// Bulk transfer through duet, the peer of bench/bulk_uv.c: TOTAL bytes (1 GiB) through one
// TCP connection on 127.0.0.1, both ends on one loop in one thread (run.py pins it to CPU 0).
//   streams  (default): the sender writes 64 KiB and awaits drain() after each write; the
//            receiver (a start_server callback) reads with read(64 KiB) and counts.
//   writer_to_buffered: the streams sender above into the protocol variant's buffered_protocol
//            receiver (a stream_writer at the sending end, the zero-copy path at the other).
//   protocol: the sender's protocol writes 64 KiB chunks until pause_writing and continues on
//            resume_writing; the receiver is a buffered_protocol counting into one 64 KiB
//            buffer (the zero-copy path).
// Both use asyncio's default water marks (64 KiB high, 16 KiB low). Prints one JSON line.
// usage: bulk_duet [streams|writer_to_buffered|protocol] [TOTAL_BYTES=1073741824] [LIMIT=65536 (streams: the
// receiver's)]
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <duet/duet.hpp>

namespace {

constexpr std::size_t chunk_size = 64 * 1024;

double cpu_s() {
    rusage r{};
    getrusage(RUSAGE_SELF, &r);
    return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
           static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct measurement {
    std::uint64_t total = 0;
    std::size_t limit = duet::stream_default_limit;  // the receiving reader's
    std::uint64_t received = 0;
    double t0 = 0, cpu0 = 0, wall = 0, cpu = 0;
    void start() {
        t0 = now_s();
        cpu0 = cpu_s();
    }
    // Counts n bytes; true once everything arrived (the clock stops there).
    bool count(std::size_t n) {
        received += n;
        if (received < total || wall > 0) return false;
        wall = now_s() - t0;
        cpu = cpu_s() - cpu0;
        return true;
    }
};

// ---- streams

duet::coro<void> stream_sender(measurement& m, std::uint16_t port) {
    auto [reader, writer] = co_await duet::open_connection("127.0.0.1", port);
    const std::string chunk(chunk_size, 'x');
    m.start();
    for (std::uint64_t sent = 0; sent < m.total;) {
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_size, m.total - sent));
        writer.write(std::string_view(chunk).substr(0, n));
        co_await writer.drain();
        sent += n;
    }
    writer.close();
    co_await writer.wait_closed();
}

duet::coro<void> run_streams(measurement& m) {
    duet::event done;
    auto srv = co_await duet::start_server(
        [&m, &done](duet::stream_reader reader, duet::stream_writer writer) -> duet::coro<void> {
            for (;;) {
                std::string data = co_await reader.read(chunk_size);
                if (data.empty()) break;
                if (m.count(data.size())) done.set();
            }
            writer.close();
        },
        "127.0.0.1", 0, m.limit);
    co_await stream_sender(m, srv->sockets().at(0).port);
    co_await done.wait();
    srv->close();
    co_await srv->wait_closed();
}

// ---- protocols

class sender_protocol final : public duet::protocol {
public:
    explicit sender_protocol(measurement& m) : m_(m), chunk_(chunk_size, 'x') {}
    void connection_made(std::shared_ptr<duet::transport> t) override {
        t_ = std::move(t);
        m_.start();
        pump();
    }
    void pause_writing() override { paused_ = true; }
    void resume_writing() override {
        paused_ = false;
        pump();
    }
    void connection_lost(std::exception_ptr) override { t_.reset(); }

private:
    // Writes until the transport's buffer goes over the high-water mark (write() calls
    // pause_writing then) or everything is sent.
    void pump() {
        while (!paused_ && t_ && sent_ < m_.total) {
            std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_size, m_.total - sent_));
            sent_ += n;
            t_->write(std::string_view(chunk_).substr(0, n));
        }
        if (sent_ >= m_.total && t_) {
            t_->close();  // flushes first
            t_.reset();
        }
    }
    measurement& m_;
    std::string chunk_;
    std::shared_ptr<duet::transport> t_;
    std::uint64_t sent_ = 0;
    bool paused_ = false;
};

class receiver_protocol final : public duet::buffered_protocol {
public:
    receiver_protocol(measurement& m, duet::event& done) : m_(m), done_(done), buf_(new char[chunk_size]) {}
    std::span<char> get_buffer(std::size_t) override { return {buf_.get(), chunk_size}; }
    void buffer_updated(std::size_t n) override {
        if (m_.count(n)) done_.set();
    }

private:
    measurement& m_;
    duet::event& done_;
    std::unique_ptr<char[]> buf_;
};

duet::coro<void> run_protocols(measurement& m) {
    auto& loop = duet::get_running_loop();
    duet::event done;
    auto srv =
        co_await loop.create_server([&] { return std::make_shared<receiver_protocol>(m, done); }, "127.0.0.1", 0);
    auto [t, p] = co_await loop.create_connection([&] { return std::make_shared<sender_protocol>(m); }, "127.0.0.1",
                                                  srv->sockets().at(0).port);
    co_await done.wait();
    t->close();
    srv->close();
    srv->close_clients();
    co_await srv->wait_closed();
}

// A streams sender (write + drain) into a buffered_protocol receiver.
duet::coro<void> run_writer_to_buffered(measurement& m) {
    auto& loop = duet::get_running_loop();
    duet::event done;
    auto srv =
        co_await loop.create_server([&] { return std::make_shared<receiver_protocol>(m, done); }, "127.0.0.1", 0);
    co_await stream_sender(m, srv->sockets().at(0).port);
    co_await done.wait();
    srv->close();
    srv->close_clients();
    co_await srv->wait_closed();
}

}  // namespace

int main(int argc, char** argv) {
    std::string variant = argc > 1 ? argv[1] : "streams";
    measurement m;
    m.total = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : (std::uint64_t{1} << 30);
    if (argc > 3) m.limit = std::strtoull(argv[3], nullptr, 10);
    if (variant == "streams") {
        duet::run(run_streams(m));
    } else if (variant == "writer_to_buffered") {
        duet::run(run_writer_to_buffered(m));
    } else if (variant == "protocol") {
        duet::run(run_protocols(m));
    } else {
        std::fprintf(stderr, "usage: bulk_duet [streams|writer_to_buffered|protocol] [TOTAL_BYTES [LIMIT]]\n");
        return 2;
    }
    if (m.wall <= 0) {
        std::fprintf(stderr, "bulk_duet: only %llu of %llu bytes arrived\n",
                     static_cast<unsigned long long>(m.received), static_cast<unsigned long long>(m.total));
        return 1;
    }
    std::printf(
        "{\"peer\": \"duet_%s\", \"bench\": \"bulk\", \"bytes\": %llu, \"chunk\": %zu, \"wall_s\": %.3f, "
        "\"cpu_s\": %.3f, \"rate\": %.1f, \"gbit_per_s\": %.2f}\n",
        variant.c_str(), static_cast<unsigned long long>(m.received), chunk_size, m.wall, m.cpu,
        static_cast<double>(m.received) / m.wall, static_cast<double>(m.received) * 8 / m.wall / 1e9);
    return 0;
}
