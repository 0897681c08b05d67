// The streams openers on every loop: on a loop whose backend has no network half (the
// browser loop, the virtual clock, the poll(2) example), open_connection, start_server,
// open_unix_connection and start_unix_server raise not_supported_error naming the loop
// method they need and the loop, with or without an explicit loop argument, as asyncio's
// openers raise what loop.create_connection & co. raise. (The uv loop's streams are tested
// with real sockets in tests/native.)
#include <memory>
#include <string>

#include "test_loop.hpp"

namespace duet::test {
namespace {

template <class L>
class StreamsSupport : public ::testing::Test {};
TYPED_TEST_SUITE(StreamsSupport, contract_loops);

// Runs `call` and expects not_supported_error whose message names `method` and the loop.
template <class F>
void expect_streams_not_supported(const char* opener, const char* method, const std::string& backend, F&& call) {
    try {
        call();
        ADD_FAILURE() << opener << " did not raise";
    } catch (const not_supported_error& e) {
        std::string m = e.what();
        EXPECT_NE(m.find(method), std::string::npos) << opener << ": " << m;
        EXPECT_NE(m.find("\"" + backend + "\""), std::string::npos) << opener << ": " << m;
    } catch (const std::exception& e) {
        ADD_FAILURE() << opener << " raised something else: " << e.what();
    }
}

coro<void> on_client(stream_reader, stream_writer) {
    co_return;
}

TYPED_TEST(StreamsSupport, OpenersRaiseNotSupportedNamingTheMethod) {
    TypeParam loop;
    if constexpr (TypeParam::has_network) {
        GTEST_SKIP() << "the " << TypeParam::backend_type::name << " loop has networking (tests/native)";
    } else {
        const std::string b = TypeParam::backend_type::name;
        // With the loop as argument.
        expect_streams_not_supported("open_connection", "create_connection", b,
                                     [&] { loop.run_until_complete(open_connection(loop, "127.0.0.1", 1)); });
        expect_streams_not_supported("start_server", "create_server", b,
                                     [&] { loop.run_until_complete(start_server(loop, on_client, "127.0.0.1", 0)); });
        expect_streams_not_supported("open_unix_connection", "create_unix_connection", b, [&] {
            loop.run_until_complete(open_unix_connection(loop, "/tmp/duet-no-such.sock"));
        });
        expect_streams_not_supported("start_unix_server", "create_unix_server", b, [&] {
            loop.run_until_complete(start_unix_server(loop, on_client, "/tmp/duet-no-such.sock"));
        });
        // On the running loop.
        expect_streams_not_supported("open_connection", "create_connection", b,
                                     [&] { loop.run_until_complete(open_connection("127.0.0.1", 1)); });
        expect_streams_not_supported("start_server", "create_server", b,
                                     [&] { loop.run_until_complete(start_server(on_client, "127.0.0.1", 0)); });
        expect_streams_not_supported("open_unix_connection", "create_unix_connection", b,
                                     [&] { loop.run_until_complete(open_unix_connection("/tmp/duet-no-such.sock")); });
        expect_streams_not_supported("start_unix_server", "create_unix_server", b, [&] {
            loop.run_until_complete(start_unix_server(on_client, "/tmp/duet-no-such.sock"));
        });
    }
    loop.close();
}

}  // namespace
}  // namespace duet::test
