// The loop's network interface on every loop: a loop whose backend has no network half
// (the browser loop, the virtual clock, the poll(2) example) raises not_supported_error
// from each method, naming the method and the loop; sock_* need fd watching and say so
// the same way. (The uv loop's networking is tested with real sockets in tests/native.)
#include <memory>
#include <string>

#include "test_loop.hpp"

namespace duet::test {
namespace {

template <class L>
class NetworkSupport : public ::testing::Test {};
TYPED_TEST_SUITE(NetworkSupport, contract_loops);

class recording_protocol : public protocol {};
class recording_datagram_protocol : public datagram_protocol {};

// Runs `call` and expects not_supported_error whose message names `method` and the loop.
template <class F>
void expect_not_supported(const char* method, const std::string& backend, F&& call) {
    try {
        call();
        ADD_FAILURE() << method << " did not raise";
    } catch (const not_supported_error& e) {
        std::string m = e.what();
        EXPECT_NE(m.find(method), std::string::npos) << m;
        EXPECT_NE(m.find("\"" + backend + "\""), std::string::npos) << m;
    } catch (const std::exception& e) {
        ADD_FAILURE() << method << " raised something else: " << e.what();
    }
}

template <class Loop>
void expect_network_not_supported(Loop& loop) {
    const std::string b = Loop::backend_type::name;
    auto stream = [] { return std::make_shared<recording_protocol>(); };
    auto dgram = [] { return std::make_shared<recording_datagram_protocol>(); };
    expect_not_supported("create_connection", b,
                         [&] { loop.run_until_complete(loop.create_connection(stream, "127.0.0.1", 1)); });
    expect_not_supported("create_server", b,
                         [&] { loop.run_until_complete(loop.create_server(stream, "127.0.0.1", 0)); });
    expect_not_supported("create_unix_connection", b,
                         [&] { loop.run_until_complete(loop.create_unix_connection(stream, "/tmp/x.sock")); });
    expect_not_supported("create_unix_server", b,
                         [&] { loop.run_until_complete(loop.create_unix_server(stream, "/tmp/x.sock")); });
    expect_not_supported("create_datagram_endpoint", b, [&] {
        datagram_options o;
        o.local_addr = host_port{"127.0.0.1", 0};
        loop.run_until_complete(loop.create_datagram_endpoint(dgram, o));
    });
    expect_not_supported("connect_accepted_socket", b,
                         [&] { loop.run_until_complete(loop.connect_accepted_socket(stream, 3)); });
    expect_not_supported("create_connection", b, [&] {
        connection_options o;
        o.sock = 3;
        loop.run_until_complete(loop.create_connection(stream, o));
    });
    expect_not_supported("create_server", b, [&] {
        server_options o;
        o.sock = 3;
        loop.run_until_complete(loop.create_server(stream, o));
    });
    expect_not_supported("create_unix_connection", b, [&] {
        connection_options o;
        o.sock = 3;
        loop.run_until_complete(loop.create_unix_connection(stream, o));
    });
    expect_not_supported("create_unix_server", b, [&] {
        server_options o;
        o.sock = 3;
        loop.run_until_complete(loop.create_unix_server(stream, o));
    });
    expect_not_supported("connect_read_pipe", b, [&] { loop.run_until_complete(loop.connect_read_pipe(stream, 0)); });
    expect_not_supported("connect_write_pipe", b, [&] { loop.run_until_complete(loop.connect_write_pipe(stream, 1)); });
    expect_not_supported("getaddrinfo", b, [&] { loop.run_until_complete(loop.getaddrinfo("localhost", "80")); });
    expect_not_supported("getnameinfo", b,
                         [&] { loop.run_until_complete(loop.getnameinfo(socket_address::inet("127.0.0.1", 80))); });
    expect_not_supported("add_signal_handler", b, [&] { loop.add_signal_handler(2, [] {}); });
    expect_not_supported("remove_signal_handler", b, [&] { loop.remove_signal_handler(2); });
}

TYPED_TEST(NetworkSupport, TheLoopHasItOrEveryMethodRaises) {
    TypeParam loop;
    if constexpr (TypeParam::has_network) {
        GTEST_SKIP() << "the " << TypeParam::backend_type::name << " loop has networking (tests/native)";
    } else {
        expect_network_not_supported(loop);
        // The abstract interface says the same.
        abstract_event_loop& any = loop;
        EXPECT_THROW(any.remove_signal_handler(15), not_supported_error);
    }
    loop.close();
}

}  // namespace
}  // namespace duet::test
