// docs/transports-and-protocols.md (native)
#include <memory>
#include <string>

#include <duet/duet.hpp>

#include "snippets.hpp"

namespace {

// Server side: echo every chunk back.
struct echo_protocol : duet::protocol {
    std::shared_ptr<duet::transport> t;
    void connection_made(std::shared_ptr<duet::transport> tr) override { t = std::move(tr); }
    void data_received(std::string_view data) override { t->write(data); }
};

// Client side: send once, collect the reply, complete a future when the server closes.
struct client_protocol : duet::protocol {
    explicit client_protocol(duet::future<std::string> f) : done(std::move(f)) {}
    duet::future<std::string> done;
    std::shared_ptr<duet::transport> t;
    std::string got;
    void connection_made(std::shared_ptr<duet::transport> tr) override {
        t = std::move(tr);
        t->write("ping");
    }
    void data_received(std::string_view data) override {
        got += data;
        if (got.size() == 4) t->close();
    }
    void connection_lost(std::exception_ptr) override {
        if (!done.done()) done.set_result(got);
    }
};

duet::coro<bool> protocols_demo() {
    auto& loop = duet::get_running_loop();
    auto server = co_await loop.create_server([] { return std::make_shared<echo_protocol>(); }, "127.0.0.1", 0);
    auto port = server->sockets()[0].port;
    auto done = loop.create_future<std::string>();
    auto make_client = [done] { return std::make_shared<client_protocol>(done); };
    auto [transport, proto] = co_await loop.create_connection(make_client, "127.0.0.1", port);
    std::string reply = co_await done;
    server->close();
    co_await server->wait_closed();
    co_return reply == "ping" && proto->got == "ping";
}

}  // namespace

DUET_SNIPPET(protocols_echo) {
    return duet::run(protocols_demo());
}
