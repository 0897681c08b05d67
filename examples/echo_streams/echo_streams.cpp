// asyncio's "TCP echo client using streams" and "TCP echo server using streams" (the Streams
// page), in one program: the server listens on 127.0.0.1 (port 0: a free port), the client
// sends a message and prints the echo, then the server closes.
#include <cstdio>
#include <string>

#include <duet/duet.hpp>

duet::coro<void> handle_echo(duet::stream_reader reader, duet::stream_writer writer) {
    std::string message = co_await reader.read(100);
    auto addr = writer.get_extra_info<duet::socket_address>("peername");
    std::printf("Received '%s' from %s\n", message.c_str(), addr ? addr->to_string().c_str() : "?");

    std::printf("Send: '%s'\n", message.c_str());
    writer.write(message);
    co_await writer.drain();

    std::puts("Close the connection");
    writer.close();
    co_await writer.wait_closed();
}

duet::coro<void> tcp_echo_client(std::string message, std::uint16_t port) {
    auto [reader, writer] = co_await duet::open_connection("127.0.0.1", port);

    std::printf("Send: '%s'\n", message.c_str());
    writer.write(message);
    co_await writer.drain();

    std::string data = co_await reader.read(100);
    std::printf("Received: '%s'\n", data.c_str());

    std::puts("Close the connection");
    writer.close();
    co_await writer.wait_closed();
}

duet::coro<void> main_coro() {
    auto server = co_await duet::start_server(handle_echo, "127.0.0.1", 0);
    auto addr = server->sockets().at(0);
    std::printf("Serving on %s\n", addr.to_string().c_str());

    co_await tcp_echo_client("Hello World!", addr.port);

    server->close();
    co_await server->wait_closed();
}

int main() {
    duet::run(main_coro());
}
