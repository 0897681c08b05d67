// sock_* on every loop: a loop that cannot watch fds (the virtual clock, the browser loop)
// raises not_supported_error from each, naming the method and the loop, before touching
// the fd. (On loops that watch fds they are tested with real sockets in tests/native.)
#include <string>

#include "test_loop.hpp"

namespace duet::test {
namespace {

template <class L>
class SockSupport : public ::testing::Test {};
TYPED_TEST_SUITE(SockSupport, contract_loops);

TYPED_TEST(SockSupport, TheLoopWatchesFdsOrEverySockMethodRaises) {
    TypeParam loop;
    if constexpr (TypeParam::can_watch_fds) {
        EXPECT_TRUE(loop.watches_fds());
    } else {
        EXPECT_FALSE(loop.watches_fds());
        const std::string backend = TypeParam::backend_type::name;
        auto check = [&](const char* method, auto make) {
            try {
                loop.run_until_complete(make());
                ADD_FAILURE() << method << " did not raise";
            } catch (const not_supported_error& e) {
                std::string m = e.what();
                EXPECT_NE(m.find(method), std::string::npos) << m;
                EXPECT_NE(m.find("\"" + backend + "\""), std::string::npos) << m;
            } catch (const std::exception& e) {
                ADD_FAILURE() << method << " raised something else: " << e.what();
            }
        };
        char buf[4];
        // fd -1: the capability is checked first, so the fd is never looked at.
        check("sock_recv", [&] { return loop.sock_recv(-1, 1); });
        check("sock_recv_into", [&] { return loop.sock_recv_into(-1, buf); });
        check("sock_sendall", [&] { return loop.sock_sendall(-1, "x"); });
        check("sock_connect", [&] { return loop.sock_connect(-1, socket_address::inet("127.0.0.1", 1)); });
        check("sock_accept", [&] { return loop.sock_accept(-1); });
        check("sock_sendto", [&] { return loop.sock_sendto(-1, "x", socket_address::inet("127.0.0.1", 1)); });
        check("sock_recvfrom", [&] { return loop.sock_recvfrom(-1, 1); });
        check("sock_recvfrom_into", [&] { return loop.sock_recvfrom_into(-1, buf); });
    }
    loop.close();
}

}  // namespace
}  // namespace duet::test
