// Bulk data through a stream_reader (issue 11, bulk speed): once a transport read fills its
// buffer, the uv transport reads the next bytes straight into the waiting read's result or
// the reader's buffer (stream_reader_protocol::read_buffer) instead of copying them through
// its own buffer. The bytes must come out intact and in order whatever mix of reads takes
// them, with reading paused and resumed on the way, and EOF must still end them. Real uv
// loop; time-limited; no fd left open.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <gtest/gtest.h>

#include <duet/duet.hpp>
#include <duet/event_loop.hpp>

#include "uv_loop_fixture.hpp"

namespace duet {
namespace {

class StreamsDirectRead : public nettest::uv_loop_fixture {};
using nettest::port_of;

// Lines of 1,000 bytes whose letters change with the offset (a misplaced or repeated chunk
// shows).
std::string pattern(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i)
        s[i] = i % 1000 == 999 ? '\n' : static_cast<char>('a' + (i * 7 + i / 1000) % 26);
    return s;
}

// The server sends `data` in 64 KiB writes with drain, then closes.
coro<std::shared_ptr<server>> sending_server(const std::string& data) {
    auto cb = [&data](stream_reader, stream_writer w) -> coro<void> {
        for (std::size_t off = 0; off < data.size(); off += 65536) {
            w.write(std::string_view(data).substr(off, 65536));
            co_await w.drain();
        }
        w.close();
        co_await w.wait_closed();
    };
    co_return co_await start_server(cb, "127.0.0.1", 0);
}

TEST_F(StreamsDirectRead, BulkDataArrivesIntactThroughEveryKindOfRead) {
    const std::string data = pattern(std::size_t{12} << 20);
    run([&]() -> coro<void> {
        auto srv = co_await sending_server(data);
        auto [r, w] = co_await open_connection("127.0.0.1", port_of(srv));
        std::string got;
        // read(64 KiB) as a bulk receiver does, with a pause that lets the buffer fill
        // over 2 x limit (reading paused, then resumed by the reads).
        while (got.size() < (std::size_t{3} << 20)) {
            std::string part = co_await r.read(65536);
            EXPECT_FALSE(part.empty());
            if (part.empty()) co_return;
            got += part;
            if (got.size() >= (std::size_t{1} << 20) && got.size() < (std::size_t{1} << 20) + 65536)
                co_await sleep(0.05);
        }
        // readexactly of odd sizes, one larger than the limit (it waits for bytes read
        // straight into its result).
        for (std::ptrdiff_t n : {200001, 3, 1500000, 65536, 77777}) got += co_await r.readexactly(n);
        // Whole lines, then small reads, then everything up to EOF.
        got += co_await r.readline();
        for (int i = 0; i < 50; ++i) got += co_await r.readline();
        for (int i = 0; i < 50; ++i) got += co_await r.read(999);
        got += co_await r.read();
        EXPECT_TRUE(r.at_eof());
        EXPECT_EQ(got.size(), data.size());
        EXPECT_TRUE(got == data) << "the bytes differ from what was sent";
        w.close();
        co_await w.wait_closed();
        srv->close();
        co_await srv->wait_closed();
    }());
}

TEST_F(StreamsDirectRead, EofAfterBulkDataEndsAWaitingRead) {
    const std::string data = pattern(std::size_t{2} << 20);
    run([&]() -> coro<void> {
        auto srv = co_await sending_server(data);
        auto [r, w] = co_await open_connection("127.0.0.1", port_of(srv));
        std::string got;
        for (;;) {
            std::string part = co_await r.read(65536);
            if (part.empty()) break;
            got += part;
        }
        EXPECT_TRUE(r.at_eof());
        EXPECT_TRUE(got == data) << "got " << got.size() << " bytes of " << data.size();
        // readexactly past EOF: asyncio's IncompleteReadError with nothing read.
        bool raised = false;
        try {
            (void)co_await r.readexactly(10);
        } catch (const incomplete_read_error& e) {
            raised = true;
            EXPECT_TRUE(e.partial().empty());
        }
        EXPECT_TRUE(raised);
        w.close();
        co_await w.wait_closed();
        srv->close();
        co_await srv->wait_closed();
    }());
}

TEST_F(StreamsDirectRead, ReadexactlyLongerThanBulkRunsGetsEveryByte) {
    // A readexactly far larger than one transport read: filled by many direct reads.
    const std::string data = pattern(std::size_t{6} << 20);
    run([&]() -> coro<void> {
        auto srv = co_await sending_server(data);
        auto [r, w] = co_await open_connection("127.0.0.1", port_of(srv));
        std::string got = co_await r.readexactly(static_cast<std::ptrdiff_t>(data.size() - 5));
        got += co_await r.readexactly(5);
        EXPECT_TRUE(got == data);
        EXPECT_EQ(co_await r.read(10), "");
        w.close();
        co_await w.wait_closed();
        srv->close();
        co_await srv->wait_closed();
    }());
}

TEST_F(StreamsDirectRead, ASubclassOverridingDataReceivedSeesEveryByte) {
    // Direct reads skip data_received: a subclass that overrides it keeps getting the bytes.
    struct counting : stream_reader_protocol {
        using stream_reader_protocol::stream_reader_protocol;
        std::size_t seen = 0;
        void data_received(std::string_view d) override {
            seen += d.size();
            stream_reader_protocol::data_received(d);
        }
    };
    const std::string data = pattern(std::size_t{4} << 20);
    run([&]() -> coro<void> {
        auto srv = co_await sending_server(data);
        auto& loop = get_running_loop();
        stream_reader r(loop);
        auto factory = [r] { return std::make_shared<counting>(r); };
        auto [t, p] = co_await loop.create_connection(std::move(factory), "127.0.0.1", port_of(srv));
        std::string got;
        for (;;) {
            std::string part = co_await r.read(65536);
            if (part.empty()) break;
            got += part;
        }
        EXPECT_TRUE(got == data);
        EXPECT_EQ(std::static_pointer_cast<counting>(p)->seen, data.size());
        t->close();
        srv->close();
        co_await srv->wait_closed();
    }());
}

}  // namespace
}  // namespace duet
