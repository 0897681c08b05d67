// stream_reader fed by hand (feed_data / feed_eof / set_exception), as CPython's
// test_streams.py tests StreamReader: no transport, no sockets, so it runs on every target.
// (Pausing the transport over 2 x limit is tested with real sockets in
// tests/native/streams_test.cpp.)
#include <string>
#include <vector>

#include "test_loop.hpp"

namespace duet::test {
namespace {

// Runs `c` on the loop and returns the what() of the exception of type E it raises, or
// "no error"; another exception fails the test.
template <class E>
std::string error_from(test_loop& loop, coro<std::string> c) {
    try {
        loop.run_until_complete(std::move(c));
    } catch (const E& e) {
        return e.what();
    }
    return "no error";
}

TEST(StreamReader, ReadlineJoinsChunksAndKeepsTheRest) {
    test_loop loop;
    stream_reader r(loop);
    r.feed_data("chunk1 ");
    loop.call_soon([&] {
        r.feed_data("chunk2 ");
        r.feed_data("chunk3 ");
        r.feed_data("\n chunk4");
    });
    EXPECT_EQ(loop.run_until_complete(r.readline()), "chunk1 chunk2 chunk3 \n");
    EXPECT_EQ(r.buffered(), 7u);  // " chunk4" stays
    r.feed_data("\n");
    EXPECT_EQ(loop.run_until_complete(r.readline()), " chunk4\n");
    EXPECT_EQ(r.buffered(), 0u);
}

TEST(StreamReader, ReadlineWaitsForChunksFedLater) {
    test_loop loop;
    stream_reader r(loop);
    auto feeder = [&]() -> coro<void> {
        for (const char* c : {"li", "ne", " one", "\nline two\n"}) {
            co_await sleep(0.01);
            r.feed_data(c);
        }
    };
    auto t = loop.create_task(feeder());
    EXPECT_EQ(loop.run_until_complete(r.readline()), "line one\n");
    EXPECT_EQ(loop.run_until_complete(r.readline()), "line two\n");
    loop.run_until_complete(t);
}

TEST(StreamReader, ReadlinePartialLineAtEof) {
    test_loop loop;
    stream_reader r(loop);
    r.feed_data("some data");
    r.feed_eof();
    EXPECT_EQ(loop.run_until_complete(r.readline()), "some data");
    EXPECT_TRUE(r.at_eof());
    EXPECT_EQ(loop.run_until_complete(r.readline()), "");
    EXPECT_EQ(loop.run_until_complete(r.readline()), "");
}

TEST(StreamReader, EofFedWhileReadlineWaits) {
    test_loop loop;
    stream_reader r(loop);
    r.feed_data("partial");
    loop.call_soon([&] { r.feed_eof(); });
    EXPECT_EQ(loop.run_until_complete(r.readline()), "partial");
}

TEST(StreamReader, AtEofOnlyAfterEofAndAnEmptyBuffer) {
    test_loop loop;
    stream_reader r(loop);
    EXPECT_FALSE(r.at_eof());
    r.feed_data("some data\n");
    EXPECT_FALSE(r.at_eof());
    EXPECT_EQ(loop.run_until_complete(r.readline()), "some data\n");
    EXPECT_FALSE(r.at_eof());  // empty, but no EOF yet
    r.feed_data("more");
    r.feed_eof();
    EXPECT_FALSE(r.at_eof());  // EOF, but data left
    EXPECT_EQ(loop.run_until_complete(r.read(2)), "mo");
    EXPECT_FALSE(r.at_eof());
    EXPECT_EQ(loop.run_until_complete(r.read(2)), "re");
    EXPECT_TRUE(r.at_eof());
}

TEST(StreamReader, ReadlineAcceptsExactlyLimitPlusNewline) {
    test_loop loop;
    stream_reader r(loop, 7);
    r.feed_data("1234567\n");
    EXPECT_EQ(loop.run_until_complete(r.readline()), "1234567\n");
}

TEST(StreamReader, ReadlineOneByteOverTheLimitRaisesAndDiscardsTheLine) {
    test_loop loop;
    stream_reader r(loop, 7);
    r.feed_data("12345678\nrest\n");
    EXPECT_EQ(error_from<std::invalid_argument>(loop, r.readline()),
              "Separator is found, but chunk is longer than limit");
    EXPECT_EQ(r.buffered(), 5u);  // the line and its "\n" are gone
    EXPECT_EQ(loop.run_until_complete(r.readline()), "rest\n");
}

TEST(StreamReader, ReadlineOverTheLimitWithData) {
    // CPython's test_readline_limit_with_existing_data.
    test_loop loop;
    stream_reader r(loop, 3);
    r.feed_data("li");
    r.feed_data("ne1\nline2\n");
    EXPECT_NE(error_from<std::invalid_argument>(loop, r.readline()), "no error");
    EXPECT_EQ(loop.run_until_complete(r.read(7)), "line2\n");
}

TEST(StreamReader, ReadlineOverTheLimitWithoutNewlineClearsTheBuffer) {
    test_loop loop;
    stream_reader r(loop, 7);
    loop.call_soon([&] {
        r.feed_data("chunk1");
        r.feed_data("chunk2");
    });
    EXPECT_EQ(error_from<std::invalid_argument>(loop, r.readline()),
              "Separator is not found, and chunk exceed the limit");
    EXPECT_EQ(r.buffered(), 0u);
    r.feed_data("ok\n");
    EXPECT_EQ(loop.run_until_complete(r.readline()), "ok\n");
}

TEST(StreamReader, ReadlineOverTheLimitKeepsTheNextLine) {
    test_loop loop;
    stream_reader r(loop, 7);
    loop.call_soon([&] {
        r.feed_data("chunk1");
        r.feed_data("chunk2\n");
        r.feed_data("chunk3\n");
        r.feed_eof();
    });
    EXPECT_NE(error_from<std::invalid_argument>(loop, r.readline()), "no error");
    EXPECT_EQ(loop.run_until_complete(r.readline()), "chunk3\n");
    EXPECT_EQ(loop.run_until_complete(r.readline()), "");
}

TEST(StreamReader, ReaduntilEofRaisesIncompleteReadWithThePartialData) {
    test_loop loop;
    stream_reader r(loop);
    r.feed_data("some dataAA");
    r.feed_eof();
    try {
        loop.run_until_complete(r.readuntil("AAA"));
        ADD_FAILURE() << "no error";
    } catch (const incomplete_read_error& e) {
        EXPECT_EQ(e.partial(), "some dataAA");
        EXPECT_FALSE(e.expected().has_value());
        EXPECT_STREQ(e.what(), "11 bytes read on a total of undefined expected bytes");
    }
    EXPECT_EQ(r.buffered(), 0u);
    EXPECT_TRUE(r.at_eof());
}

TEST(StreamReader, ReaduntilFindsASeparatorCompletedByTheLastChunkBeforeEof) {
    test_loop loop;
    stream_reader r(loop);
    r.feed_data("dataA");
    loop.call_soon([&] {
        r.feed_data("AA");
        r.feed_eof();
    });
    EXPECT_EQ(loop.run_until_complete(r.readuntil("AAA")), "dataAAA");
}

TEST(StreamReader, ReaduntilLimitOverrunKeepsTheData) {
    test_loop loop;
    stream_reader r(loop, 3);
    r.feed_data("some dataAA");
    try {
        loop.run_until_complete(r.readuntil("AAA"));
        ADD_FAILURE() << "no error";
    } catch (const limit_overrun_error& e) {
        EXPECT_STREQ(e.what(), "Separator is not found, and chunk exceed the limit");
        EXPECT_EQ(e.consumed(), 9u);
    }
    EXPECT_EQ(r.buffered(), 11u);
    r.feed_data("A");
    try {
        loop.run_until_complete(r.readuntil("AAA"));
        ADD_FAILURE() << "no error";
    } catch (const limit_overrun_error& e) {
        EXPECT_STREQ(e.what(), "Separator is found, but chunk is longer than limit");
        EXPECT_EQ(e.consumed(), 9u);
    }
    EXPECT_EQ(r.buffered(), 12u);
    // The caller may consume what the error counted, then go on.
    EXPECT_EQ(loop.run_until_complete(r.readexactly(9)), "some data");
    EXPECT_EQ(loop.run_until_complete(r.readuntil("AAA")), "AAA");
}

TEST(StreamReader, ReaduntilRefusesEmptySeparators) {
    test_loop loop;
    stream_reader r(loop);
    r.feed_data("data");
    EXPECT_EQ(error_from<std::invalid_argument>(loop, r.readuntil("")), "Separator should be at least one-byte string");
    EXPECT_EQ(error_from<std::invalid_argument>(loop, r.readuntil(std::vector<std::string>{})),
              "Separator should contain at least one element");
    EXPECT_EQ(error_from<std::invalid_argument>(loop, r.readuntil({"a", ""})),
              "Separator should be at least one-byte string");
    EXPECT_EQ(r.buffered(), 4u);
}

TEST(StreamReader, ReaduntilWithSeveralSeparatorsTheEarliestEndWins) {
    test_loop loop;
    stream_reader r(loop);
    r.feed_data("line1\nline2\r\nline3;rest");
    EXPECT_EQ(loop.run_until_complete(r.readuntil({"\r\n", "\n"})), "line1\n");
    EXPECT_EQ(loop.run_until_complete(r.readuntil({"\n", "\r\n"})), "line2\r\n");
    EXPECT_EQ(loop.run_until_complete(r.readuntil({"\n", ";"})), "line3;");
    // "yy" ends before "yz" and "xxxyyzz", whatever the order they are given in.
    r.feed_data("xxxyyzz");
    EXPECT_EQ(loop.run_until_complete(r.readuntil(std::vector<std::string>{"xxxyyzz", "yz", "yy"})), "restxxxyy");
    EXPECT_EQ(r.buffered(), 2u);
}

TEST(StreamReader, ReaduntilWithSeveralSeparatorsAcrossChunks) {
    test_loop loop;
    stream_reader r(loop);
    r.feed_data("abc");
    loop.call_soon([&] { r.feed_data("--"); });
    loop.call_later(0.01, [&] { r.feed_data("-END"); });
    EXPECT_EQ(loop.run_until_complete(r.readuntil({"---", "END"})), "abc---");
    EXPECT_EQ(loop.run_until_complete(r.readuntil({"---", "END"})), "END");
}

TEST(StreamReader, ReaduntilSeveralSeparatorsAtEof) {
    test_loop loop;
    stream_reader r(loop);
    r.feed_data("no separator");
    r.feed_eof();
    try {
        loop.run_until_complete(r.readuntil({"X", "YY"}));
        ADD_FAILURE() << "no error";
    } catch (const incomplete_read_error& e) {
        EXPECT_EQ(e.partial(), "no separator");
    }
}

TEST(StreamReader, ReadexactlyLeavesTheRest) {
    test_loop loop;
    stream_reader r(loop);
    r.feed_data("chunk1chunk2chunk3");
    EXPECT_EQ(loop.run_until_complete(r.readexactly(3)), "chu");
    EXPECT_EQ(r.buffered(), 15u);
    EXPECT_EQ(loop.run_until_complete(r.readexactly(15)), "nk1chunk2chunk3");
    EXPECT_EQ(loop.run_until_complete(r.readexactly(0)), "");
}

TEST(StreamReader, ReadexactlyWaitsForChunksEvenBeyondTheLimit) {
    test_loop loop;
    stream_reader r(loop, 4);
    auto feeder = [&]() -> coro<void> {
        for (int i = 0; i < 6; ++i) {
            co_await sleep(0.01);
            r.feed_data("ab");
        }
    };
    auto t = loop.create_task(feeder());
    EXPECT_EQ(loop.run_until_complete(r.readexactly(10)), "ababababab");
    loop.run_until_complete(t);
    EXPECT_EQ(loop.run_until_complete(r.read(3)), "ab");
}

TEST(StreamReader, ReadexactlyEarlyEofHasAsyncioMessage) {
    test_loop loop;
    stream_reader r(loop);
    r.feed_data("chunk");
    loop.call_soon([&] { r.feed_eof(); });
    try {
        loop.run_until_complete(r.readexactly(10));
        ADD_FAILURE() << "no error";
    } catch (const incomplete_read_error& e) {
        EXPECT_EQ(e.partial(), "chunk");
        EXPECT_EQ(e.expected(), std::optional<std::size_t>(10));
        EXPECT_STREQ(e.what(), "5 bytes read on a total of 10 expected bytes");
    }
    EXPECT_TRUE(r.at_eof());
    // Derived from std::runtime_error (asyncio: an EOFError).
    static_assert(std::is_base_of_v<std::runtime_error, incomplete_read_error>);
    static_assert(std::is_base_of_v<std::runtime_error, limit_overrun_error>);
}

TEST(StreamReader, ReadexactlyNegativeCount) {
    test_loop loop;
    stream_reader r(loop);
    r.feed_data("data");
    EXPECT_EQ(error_from<std::invalid_argument>(loop, r.readexactly(-1)), "readexactly size can not be less than zero");
    EXPECT_EQ(r.buffered(), 4u);
}

TEST(StreamReader, ReadAllToEof) {
    test_loop loop;
    stream_reader r(loop, 3);  // read(-1) goes in limit-sized blocks
    loop.call_soon([&] {
        r.feed_data("chunk1\n");
        r.feed_data("chunk2");
    });
    loop.call_later(0.01, [&] {
        r.feed_data("chunk3");
        r.feed_eof();
    });
    EXPECT_EQ(loop.run_until_complete(r.read()), "chunk1\nchunk2chunk3");
    EXPECT_TRUE(r.at_eof());
    EXPECT_EQ(loop.run_until_complete(r.read()), "");
}

TEST(StreamReader, ReadZeroAndReadUpToN) {
    test_loop loop;
    stream_reader r(loop);
    // read(0) returns at once, even with nothing buffered and no EOF.
    EXPECT_EQ(loop.run_until_complete(r.read(0)), "");
    r.feed_data("line1line2");
    EXPECT_EQ(loop.run_until_complete(r.read(0)), "");
    EXPECT_EQ(loop.run_until_complete(r.read(5)), "line1");
    EXPECT_EQ(loop.run_until_complete(r.read(30)), "line2");
    loop.call_soon([&] { r.feed_data("late"); });
    EXPECT_EQ(loop.run_until_complete(r.read(30)), "late");
    r.feed_eof();
    EXPECT_EQ(loop.run_until_complete(r.read(30)), "");
}

TEST(StreamReader, SetExceptionWakesAWaitingReader) {
    test_loop loop;
    stream_reader r(loop);
    loop.call_soon([&] { r.set_exception(std::make_exception_ptr(std::runtime_error("broken"))); });
    EXPECT_EQ(runtime_error_of([&] { loop.run_until_complete(r.readline()); }), "broken");
    ASSERT_TRUE(r.exception());
    EXPECT_EQ(error_of(r.exception()), "broken");
    // Every later read raises it, buffered data or not.
    EXPECT_EQ(runtime_error_of([&] { loop.run_until_complete(r.read(0)); }), "broken");
    EXPECT_EQ(runtime_error_of([&] { loop.run_until_complete(r.readexactly(1)); }), "broken");
    EXPECT_EQ(runtime_error_of([&] { loop.run_until_complete(r.readuntil("x")); }), "broken");
}

TEST(StreamReader, SetExceptionAfterDataWasFedStillLetsTheWokenReadReturn) {
    // asyncio: the waiter already has its result when the exception comes.
    test_loop loop;
    stream_reader r(loop);
    auto reading = loop.create_task(r.read(10));
    loop.run_until_complete(sleep(0));  // the read waits now
    r.feed_data("data");
    r.set_exception(std::make_exception_ptr(std::runtime_error("late")));
    EXPECT_EQ(loop.run_until_complete(reading), "data");
    EXPECT_EQ(runtime_error_of([&] { loop.run_until_complete(r.read(10)); }), "late");
}

TEST(StreamReader, OnlyOneCoroutineMayWaitForData) {
    test_loop loop;
    stream_reader r(loop);
    auto first = loop.create_task(r.read(10));
    std::string second_error;
    loop.run_until_complete([&]() -> coro<void> {
        co_await sleep(0);  // the first read is waiting now
        try {
            co_await r.readline();
        } catch (const std::runtime_error& e) {
            second_error = e.what();
        }
        r.feed_data("x");
    }());
    EXPECT_EQ(second_error, "readuntil() called while another coroutine is already waiting for incoming data");
    EXPECT_EQ(loop.run_until_complete(first), "x");
}

TEST(StreamReader, CancellingAWaitingReadLetsAnotherReadWait) {
    test_loop loop;
    stream_reader r(loop);
    auto first = loop.create_task(r.readexactly(4));
    loop.run_until_complete(sleep(0));
    first.cancel();
    EXPECT_THROW(loop.run_until_complete(first), cancelled_error);
    loop.call_soon([&] { r.feed_data("abcd"); });
    EXPECT_EQ(loop.run_until_complete(r.readexactly(4)), "abcd");
}

TEST(StreamReader, MisuseErrors) {
    test_loop loop;
    EXPECT_THROW(stream_reader(loop, 0), std::invalid_argument);
    stream_reader r(loop);
    EXPECT_TRUE(static_cast<bool>(r));
    EXPECT_FALSE(static_cast<bool>(stream_reader()));
    EXPECT_EQ(r.limit(), stream_default_limit);
    EXPECT_EQ(&r.get_loop(), static_cast<abstract_event_loop*>(&loop));
    r.feed_data("");  // nothing: no-op
    r.feed_eof();
    r.feed_eof();  // twice is fine
    EXPECT_THROW(r.feed_data("late"), invalid_state_error);
    stream_reader copy = r;  // a handle: the same reader
    EXPECT_TRUE(copy == r);
    EXPECT_TRUE(copy.at_eof());
}

TEST(StreamReader, BufferIsReusedAcrossManyReads) {
    // Many small feeds and reads: the data comes out in order (the consumed front is
    // dropped lazily; this exercises the compaction).
    test_loop loop;
    stream_reader r(loop, 16);
    std::string expected, got;
    loop.run_until_complete([&]() -> coro<void> {
        for (int i = 0; i < 500; ++i) {
            std::string chunk = std::to_string(i) + ",";
            expected += chunk;
            r.feed_data(chunk);
            if (i % 3 == 0) got += co_await r.read(5);
        }
        r.feed_eof();
        got += co_await r.read();
    }());
    EXPECT_EQ(got, expected);
}

}  // namespace
}  // namespace duet::test
