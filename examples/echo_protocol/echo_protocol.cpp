// asyncio's "TCP Echo Server" and "TCP Echo Client" protocol examples (the Transports and
// Protocols page), in one program: the server listens on 127.0.0.1 (port 0: a free port),
// the client sends a message and prints the echo, the server closes the connection.
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

#include <duet/duet.hpp>

class echo_server_protocol : public duet::protocol {
public:
    void connection_made(std::shared_ptr<duet::transport> t) override {
        auto peer = t->get_extra_info<duet::socket_address>("peername");
        std::printf("Connection from %s\n", peer ? peer->to_string().c_str() : "?");
        transport_ = std::move(t);
    }
    void data_received(std::string_view data) override {
        std::printf("Data received: '%.*s'\n", static_cast<int>(data.size()), data.data());
        std::printf("Send: '%.*s'\n", static_cast<int>(data.size()), data.data());
        transport_->write(data);
        std::puts("Close the client socket");
        transport_->close();
    }
    // The transport keeps this protocol until here; dropping our reference ends the cycle.
    void connection_lost(std::exception_ptr) override { transport_.reset(); }

private:
    std::shared_ptr<duet::transport> transport_;
};

class echo_client_protocol : public duet::protocol {
public:
    echo_client_protocol(std::string message, duet::future<void> on_con_lost)
        : message_(std::move(message)), on_con_lost_(std::move(on_con_lost)) {}
    void connection_made(std::shared_ptr<duet::transport> t) override {
        t->write(message_);
        std::printf("Data sent: '%s'\n", message_.c_str());
    }
    void data_received(std::string_view data) override {
        std::printf("Data received: '%.*s'\n", static_cast<int>(data.size()), data.data());
    }
    void connection_lost(std::exception_ptr) override {
        std::puts("The server closed the connection");
        on_con_lost_.set_result();
    }

private:
    std::string message_;
    duet::future<void> on_con_lost_;
};

duet::coro<void> main_coro() {
    auto& loop = duet::get_running_loop();

    auto server = co_await loop.create_server([] { return std::make_shared<echo_server_protocol>(); }, "127.0.0.1", 0);
    auto addr = server->sockets().at(0);
    std::printf("Serving on %s\n", addr.to_string().c_str());

    auto on_con_lost = loop.create_future<void>();
    std::string message = "Hello World!";
    auto [transport, protocol] = co_await loop.create_connection(
        [&] { return std::make_shared<echo_client_protocol>(message, on_con_lost); }, "127.0.0.1", addr.port);

    // Wait until the protocol signals that the connection is lost, then close the transport.
    try {
        co_await on_con_lost;
    } catch (...) {
        transport->close();
        throw;
    }
    transport->close();

    server->close();
    co_await server->wait_closed();
}

int main() {
    duet::run(main_coro());
}
