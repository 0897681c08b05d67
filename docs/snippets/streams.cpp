// docs/streams.md (native)
#include <string>

#include <duet/duet.hpp>

#include "snippets.hpp"

namespace {

duet::coro<void> handle_echo(duet::stream_reader reader, duet::stream_writer writer) {
    std::string line = co_await reader.readline();
    writer.write(line);
    co_await writer.drain();
    writer.close();
    co_await writer.wait_closed();
}

duet::coro<bool> streams_demo() {
    auto server = co_await duet::start_server(handle_echo, "127.0.0.1", 0);  // port 0: any free one
    std::uint16_t port = server->sockets()[0].port;
    auto [reader, writer] = co_await duet::open_connection("127.0.0.1", port);
    writer.write("hello\n");
    co_await writer.drain();
    std::string echo = co_await reader.readline();
    writer.close();
    co_await writer.wait_closed();
    server->close();
    co_await server->wait_closed();
    co_return echo == "hello\n";
}

}  // namespace

DUET_SNIPPET(streams_echo) {
    return duet::run(streams_demo());
}
