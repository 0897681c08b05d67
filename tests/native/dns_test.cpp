// getaddrinfo / getnameinfo on libuv's thread pool: results, errors naming the host, and
// cancellation that leaves nothing behind.
#include <netdb.h>
#include <sys/socket.h>

#include <string>

#include "net_test_util.hpp"

namespace duet::nettest {
namespace {

using Dns = net_test;

TEST_F(Dns, LocalhostResolves) {
    run([&]() -> coro<void> {
        auto infos = co_await loop().getaddrinfo("localhost", "80", {AF_INET, SOCK_STREAM, 0, 0});
        CO_ASSERT_TRUE(!infos.empty());
        EXPECT_EQ(infos[0].family, AF_INET);
        EXPECT_EQ(infos[0].socktype, SOCK_STREAM);
        EXPECT_EQ(infos[0].address, socket_address::inet("127.0.0.1", 80));

        auto canon = co_await loop().getaddrinfo("127.0.0.1", "", {AF_INET, SOCK_STREAM, 0, AI_CANONNAME});
        CO_ASSERT_TRUE(!canon.empty());
        EXPECT_EQ(canon[0].canonname, "127.0.0.1");
    }());
}

TEST_F(Dns, UnknownHostRaisesNamingIt) {
    run([&]() -> coro<void> {
        try {
            co_await loop().getaddrinfo("no-such-host.invalid", "80");
            ADD_FAILURE() << "resolved a name that cannot exist";
        } catch (const std::system_error& e) {
            EXPECT_TRUE(contains(e.what(), "getaddrinfo(\"no-such-host.invalid\")")) << e.what();
            // Usually EAI_NONAME; a resolver that cannot be reached says EAI_AGAIN.
            EXPECT_EQ(e.code().category(), gai_category()) << e.what();
        }
        // create_connection by name reports the same.
        try {
            co_await loop().create_connection(client(), "no-such-host.invalid", 80);
            ADD_FAILURE() << "connected to a name that cannot exist";
        } catch (const std::system_error& e) {
            EXPECT_TRUE(contains(e.what(), "no-such-host.invalid")) << e.what();
        }
    }());
}

TEST_F(Dns, GetNameInfo) {
    run([&]() -> coro<void> {
        auto [host, service] =
            co_await loop().getnameinfo(socket_address::inet("127.0.0.1", 80), NI_NUMERICHOST | NI_NUMERICSERV);
        EXPECT_EQ(host, "127.0.0.1");
        EXPECT_EQ(service, "80");
    }());
}

TEST_F(Dns, CancelledLookupCompletesNothing) {
    run([&]() -> coro<void> {
        for (int i = 0; i < 20; ++i) {
            auto lookup = loop().create_task(loop().getaddrinfo("localhost", std::to_string(1000 + i)));
            // Some are cancelled before they start, some while the pool runs them.
            for (int k = 0; k < i % 3; ++k) co_await duet::sleep(0);
            lookup.cancel();
            try {
                co_await lookup;
                // It may have finished before the cancel arrived: then its result stands.
            } catch (const cancelled_error&) {
                EXPECT_TRUE(lookup.cancelled());
            }
        }
        co_await duet::sleep(0.2);  // late completions arrive and touch nothing
    }());
}

TEST_F(Dns, LoopClosingWithALookupPendingLeaksNothing) {
    {
        auto lookup = loop().create_task(loop().getaddrinfo("localhost", "80"));
        run(duet::sleep(0));
    }
    close_loop();
    EXPECT_EQ(errors, std::vector<std::string>{"Task was destroyed but it is pending!"});
    errors.clear();
}

}  // namespace
}  // namespace duet::nettest
