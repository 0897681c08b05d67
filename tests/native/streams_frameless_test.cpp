// stream_reader's read/readexactly/readline and stream_writer's drain as frameless
// awaitables (issue 11, speed and memory): asyncio's results whether the data is already
// buffered or comes while the read waits, cancellation leaving the data in the buffer, the
// operations standing for coroutines (create_task, wait_for, gather), drain's fast path
// still raising; writes that hand their string over. Real uv loop; time-limited; no fd
// left open.
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <tuple>

#include <gtest/gtest.h>

#include <duet/duet.hpp>
#include <duet/event_loop.hpp>

#include "uv_loop_fixture.hpp"

namespace duet {
namespace {

class StreamsFrameless : public nettest::uv_loop_fixture {};
using nettest::port_of;

TEST_F(StreamsFrameless, AWaitingReadGetsEverythingFedBeforeItRuns) {
    // asyncio wakes the reader and it takes what is buffered when it runs: both feeds.
    stream_reader r(loop());
    run([&]() -> coro<void> {
        auto t = loop().create_task(r.read(100));
        co_await sleep(0);  // the read waits now
        r.feed_data("ab");
        r.feed_data("cd");
        EXPECT_EQ(co_await t, "abcd");
        // Already buffered: answered at once, in pieces as asked.
        r.feed_data("hello world");
        EXPECT_EQ(co_await r.read(5), "hello");
        EXPECT_EQ(co_await r.readexactly(1), " ");
        EXPECT_EQ(co_await r.read(100), "world");
        EXPECT_EQ(r.buffered(), 0u);
        // The buffer the read took whole is gone; the next feed starts a new one.
        r.feed_data("again\nand");
        EXPECT_EQ(co_await r.readline(), "again\n");
        r.feed_eof();
        EXPECT_EQ(co_await r.readline(), "and");
        EXPECT_EQ(co_await r.read(10), "");
        EXPECT_TRUE(r.at_eof());
    }());
}

TEST_F(StreamsFrameless, ReadexactlyWakesOnlyWhenAllItsBytesCame) {
    stream_reader r(loop());
    run([&]() -> coro<void> {
        auto t = loop().create_task(r.readexactly(6));
        co_await sleep(0);
        r.feed_data("abc");
        co_await sleep(0);
        co_await sleep(0);
        EXPECT_FALSE(t.done());
        EXPECT_EQ(r.buffered(), 3u);
        r.feed_data("defgh");
        EXPECT_EQ(co_await t, "abcdef");
        EXPECT_EQ(co_await r.read(10), "gh");
        // EOF first: asyncio's IncompleteReadError with what there was.
        auto t2 = loop().create_task(r.readexactly(4));
        co_await sleep(0);
        r.feed_data("xy");
        r.feed_eof();
        try {
            co_await t2;
            ADD_FAILURE() << "no incomplete_read_error";
        } catch (const incomplete_read_error& e) {
            EXPECT_EQ(e.partial(), "xy");
            EXPECT_EQ(e.expected(), 4u);
            EXPECT_STREQ(e.what(), "2 bytes read on a total of 4 expected bytes");
        }
        EXPECT_TRUE(r.at_eof());
    }());
}

TEST_F(StreamsFrameless, CancelledReadsConsumeNothing) {
    stream_reader r(loop());
    run([&]() -> coro<void> {
        // Cancelled after its bytes came but before it ran: they stay in the buffer.
        auto t = loop().create_task(r.readexactly(4));
        co_await sleep(0);
        r.feed_data("abcdef");
        t.cancel();
        try {
            co_await t;
            ADD_FAILURE() << "not cancelled";
        } catch (const cancelled_error&) {
        }
        EXPECT_EQ(r.buffered(), 6u);
        // Cancelled while waiting (wait_for's timeout): nothing lost, the next read waits.
        EXPECT_EQ(co_await r.readexactly(6), "abcdef");
        try {
            co_await wait_for(r.read(10), 0.01);
            ADD_FAILURE() << "no timeout";
        } catch (const timeout_error&) {
        }
        auto t2 = loop().create_task(r.read(3));
        co_await sleep(0);
        t2.cancel();
        try {
            co_await t2;
        } catch (const cancelled_error&) {
        }
        r.feed_data("late");
        EXPECT_EQ(co_await r.read(10), "late");
    }());
}

TEST_F(StreamsFrameless, OneWaiterAtATimeAndErrors) {
    stream_reader r(loop());
    run([&]() -> coro<void> {
        auto first = loop().create_task(r.readexactly(2));
        co_await sleep(0);
        try {
            co_await r.read(1);
            ADD_FAILURE() << "a second waiting read";
        } catch (const std::runtime_error& e) {
            EXPECT_STREQ(e.what(), "read() called while another coroutine is already waiting for incoming data");
        }
        try {
            co_await r.readexactly(-1);
            ADD_FAILURE() << "negative n";
        } catch (const std::invalid_argument& e) {
            EXPECT_STREQ(e.what(), "readexactly size can not be less than zero");
        }
        // set_exception wakes the waiting read with the error; later reads raise it too.
        r.set_exception(std::make_exception_ptr(std::runtime_error("broken")));
        try {
            co_await first;
            ADD_FAILURE() << "no error";
        } catch (const std::runtime_error& e) {
            EXPECT_STREQ(e.what(), "broken");
        }
        try {
            co_await r.readline();
            ADD_FAILURE() << "no error";
        } catch (const std::runtime_error& e) {
            EXPECT_STREQ(e.what(), "broken");
        }
    }());
}

TEST_F(StreamsFrameless, OperationsStandForCoroutines) {
    stream_reader r(loop());
    run([&]() -> coro<void> {
        r.feed_data("one\ntwo\nthree");
        auto [a, b, c] = co_await gather(r.readline(), r.readexactly(4), r.read(2));
        EXPECT_EQ(a, "one\n");
        EXPECT_EQ(b, "two\n");
        EXPECT_EQ(c, "th");
        coro<std::string> as_coro = r.read(10);
        EXPECT_EQ(co_await std::move(as_coro), "ree");
        // An operation kept before it is awaited.
        auto op = r.readexactly(3);
        r.feed_data("xyz");
        EXPECT_EQ(co_await op, "xyz");
    }());
}

TEST_F(StreamsFrameless, EchoAndDrainOverTcp) {
    // The benchmark's server loop (read, write, drain) over a real connection, with bulk
    // data that pauses writing, then drain raising once the peer has gone.
    auto handler = [](stream_reader r, stream_writer w) -> coro<void> {
        for (;;) {
            std::string data = co_await r.read(64 * 1024);
            if (data.empty()) break;
            w.write(data);
            co_await w.drain();
        }
        w.close();
        co_await w.wait_closed();
    };
    run([&]() -> coro<void> {
        auto srv = co_await start_server(handler, "127.0.0.1", 0);
        auto [r, w] = co_await open_connection("127.0.0.1", port_of(srv));
        std::string payload(4 * 1024 * 1024, 'x');
        for (std::size_t i = 0; i < payload.size(); i += 4093) payload[i] = static_cast<char>('a' + i % 26);
        auto reading = loop().create_task(r.readexactly(static_cast<std::ptrdiff_t>(payload.size())));
        for (std::size_t off = 0; off < payload.size(); off += 64 * 1024) {
            w.write(std::string_view(payload).substr(off, 64 * 1024));
            co_await w.drain();
        }
        EXPECT_EQ(co_await reading, payload);
        w.write_eof();
        EXPECT_EQ(co_await r.read(), "");
        w.close();
        co_await w.wait_closed();
        // drain's fast path still raises: the reader's exception, then the lost connection.
        auto [r2, w2] = co_await open_connection("127.0.0.1", port_of(srv));
        r2.set_exception(std::make_exception_ptr(std::runtime_error("reader broke")));
        try {
            co_await w2.drain();
            ADD_FAILURE() << "drain did not raise";
        } catch (const std::runtime_error& e) {
            EXPECT_STREQ(e.what(), "reader broke");
        }
        auto [r3, w3] = co_await open_connection("127.0.0.1", port_of(srv));
        w3.transport()->abort();
        try {
            for (int i = 0; i < 100; ++i) {
                w3.write("x");
                co_await w3.drain();
            }
            ADD_FAILURE() << "drain after the connection was lost did not raise";
        } catch (const std::system_error&) {
        }
        w2.close();
        co_await w2.wait_closed();
        srv->close();
        co_await srv->wait_closed();
    }());
}

TEST_F(StreamsFrameless, WritesThatHandTheirStringOverArriveIntact) {
    // write(std::string&&): the string becomes the transport's buffer when the OS does not
    // take it at once (8 MiB: it cannot), interleaved with copying writes, in order.
    auto sink = [](stream_reader r, stream_writer w) -> coro<void> {
        std::string all = co_await r.read();
        w.write(std::to_string(all.size()) + ":" + std::to_string(std::hash<std::string>{}(all)));
        co_await w.drain();
        w.close();
        co_await w.wait_closed();
    };
    run([&]() -> coro<void> {
        auto srv = co_await start_server(sink, "127.0.0.1", 0);
        auto [r, w] = co_await open_connection("127.0.0.1", port_of(srv));
        std::string expected;
        for (int i = 0; i < 4; ++i) {
            std::string big(2 * 1024 * 1024, static_cast<char>('a' + i));
            big[static_cast<std::size_t>(i) * 7] = '!';
            expected += big;
            w.write(std::move(big));
            std::string small = "<" + std::to_string(i) + ">";
            expected += small;
            w.write(small);  // an lvalue: copied
            w.write("lit");  // a literal: the string_view overload
            expected += "lit";
        }
        std::string tail = "end";
        expected += tail;
        w.transport()->write(std::move(tail));
        co_await w.drain();
        w.write_eof();
        std::string answer = co_await r.read();
        EXPECT_EQ(answer, std::to_string(expected.size()) + ":" + std::to_string(std::hash<std::string>{}(expected)));
        w.close();
        co_await w.wait_closed();
        srv->close();
        co_await srv->wait_closed();
    }());
}

}  // namespace
}  // namespace duet
