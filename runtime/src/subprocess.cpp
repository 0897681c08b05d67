// asyncio's subprocess.py over the loop's subprocess_exec / subprocess_shell (target-neutral:
// only the transport, protocol and stream interfaces are used).
#include <atomic>
#include <cerrno>
#include <system_error>

#include <duet/gather.hpp>
#include <duet/subprocess.hpp>

namespace duet {

namespace {
std::atomic<subprocess_spawner> registered_spawner{nullptr};
}  // namespace

subprocess_spawner set_subprocess_spawner(subprocess_spawner f) noexcept {
    return registered_spawner.exchange(f);
}

subprocess_spawner get_subprocess_spawner() noexcept {
    return registered_spawner.load();
}

subprocess_spawner abstract_event_loop::spawn_for(const char* method) {
    // The child's pipes need the loop's network half: a loop without one has no processes.
    (void)network_for(method);
    subprocess_spawner s = registered_spawner.load();
    if (!s)
        throw not_supported_error(std::string(method) +
                                  ": no subprocess support is registered in this program (link duet::duet natively)");
    return s;
}

// ---- subprocess_stream_protocol

subprocess_stream_protocol::subprocess_stream_protocol(abstract_event_loop& loop, std::size_t limit)
    : loop_(&loop), limit_(limit) {}

subprocess_stream_protocol::~subprocess_stream_protocol() = default;

void subprocess_stream_protocol::connection_made(std::shared_ptr<subprocess_transport> t) {
    transport_ = t;
    if (auto out = t->get_pipe_transport(1)) {
        stdout_ = stream_reader(*loop_, limit_);
        stdout_.set_transport(out);
        pipes_open_ |= 2u;
    }
    if (auto err = t->get_pipe_transport(2)) {
        stderr_ = stream_reader(*loop_, limit_);
        stderr_.set_transport(err);
        pipes_open_ |= 4u;
    }
    if (auto in = t->get_pipe_transport(0)) {
        stdin_proto_ = std::make_shared<stream_reader_protocol>();
        stdin_proto_->connection_made(in);
        stdin_ = stream_writer(in, stdin_proto_, {}, *loop_);
        pipes_open_ |= 1u;
    }
}

void subprocess_stream_protocol::pipe_data_received(int fd, std::string_view data) {
    if (fd == 1 && stdout_)
        stdout_.feed_data(data);
    else if (fd == 2 && stderr_)
        stderr_.feed_data(data);
}

void subprocess_stream_protocol::pipe_connection_lost(int fd, std::exception_ptr error) {
    if (fd == 0) {
        // The stdin writer's drain hears of it (asyncio: connection_lost of the flow control).
        if (stdin_proto_) stdin_proto_->connection_lost(error);
    } else if (const stream_reader& r = fd == 1 ? stdout_ : stderr_) {
        if (error)
            r.set_exception(error);
        else
            r.feed_eof();
    }
    if (fd >= 0 && fd <= 2) pipes_open_ &= ~(1u << static_cast<unsigned>(fd));
    maybe_close_transport();
}

void subprocess_stream_protocol::process_exited() {
    exited_ = true;
    maybe_close_transport();
}

void subprocess_stream_protocol::pause_writing() {
    if (stdin_proto_) stdin_proto_->pause_writing();
}

void subprocess_stream_protocol::resume_writing() {
    if (stdin_proto_) stdin_proto_->resume_writing();
}

void subprocess_stream_protocol::connection_lost(std::exception_ptr error) {
    (void)error;
    transport_.reset();
}

void subprocess_stream_protocol::maybe_close_transport() {
    if (pipes_open_ == 0 && exited_ && transport_) {
        transport_->close();
        transport_.reset();
    }
}

// ---- process

process::process(std::shared_ptr<subprocess_transport> t, std::shared_ptr<subprocess_stream_protocol> p)
    : transport_(std::move(t)), protocol_(std::move(p)) {
    if (!transport_ || !protocol_)
        throw std::invalid_argument("process: the transport and the protocol must not be null");
}

int process::pid() const noexcept {
    return transport_->get_pid();
}

std::optional<int> process::returncode() const noexcept {
    return transport_->get_returncode();
}

namespace {
coro<int> known_code(int rc) {
    co_return rc;
}
}  // namespace

coro<int> process::wait() const {
    // asyncio's _wait: the code at once once the exit is known, a pipe still open or not.
    if (auto rc = transport_->get_returncode()) return known_code(*rc);
    return transport_->wait();
}

void process::send_signal(int sig) const {
    transport_->send_signal(sig);
}
void process::terminate() const {
    transport_->terminate();
}
void process::kill() const {
    transport_->kill();
}

const stream_writer& process::std_in() const noexcept {
    return protocol_->std_in();
}
const stream_reader& process::std_out() const noexcept {
    return protocol_->std_out();
}
const stream_reader& process::std_err() const noexcept {
    return protocol_->std_err();
}

namespace {

bool is_pipe_gone(const std::system_error& e) noexcept {
    return e.code() == std::errc::broken_pipe || e.code() == std::errc::connection_reset;
}

// asyncio's Process._feed_stdin: a child that exits without reading is not an error.
coro<void> feed_stdin(stream_writer w, std::string input) {
    try {
        if (!input.empty()) {
            w.write(input);
            co_await w.drain();
        }
    } catch (const std::system_error& e) {
        if (!is_pipe_gone(e)) throw;
    }
    w.close();
}

// asyncio's Process._read_stream: everything up to EOF, then the pipe is closed.
coro<std::string> read_stream(std::shared_ptr<subprocess_transport> t, stream_reader r, int fd) {
    std::string out = co_await r.read();
    if (auto pt = t->get_pipe_transport(fd)) pt->close();
    co_return out;
}

coro<std::string> nothing_to_read() {
    co_return std::string();
}
coro<void> nothing_to_write() {
    co_return;
}

coro<std::pair<std::string, std::string>> communicate_impl(std::shared_ptr<subprocess_transport> t,
                                                           std::shared_ptr<subprocess_stream_protocol> p,
                                                           std::string input) {
    coro<void> in = p->std_in() ? feed_stdin(p->std_in(), std::move(input)) : nothing_to_write();
    coro<std::string> out = p->std_out() ? read_stream(t, p->std_out(), 1) : nothing_to_read();
    coro<std::string> err = p->std_err() ? read_stream(t, p->std_err(), 2) : nothing_to_read();
    auto all = gather(std::move(in), std::move(out), std::move(err));
    auto results = co_await std::move(all);
    co_await t->wait();
    std::pair<std::string, std::string> r{std::move(std::get<1>(results)), std::move(std::get<2>(results))};
    co_return r;
}

coro<process> start(abstract_event_loop* lp, std::string program, std::vector<std::string> args,
                    subprocess_options opts, bool shell) {
    abstract_event_loop& loop = lp ? *lp : get_running_loop();
    const std::size_t limit = opts.limit;
    auto factory = [&loop, limit] { return std::make_shared<subprocess_stream_protocol>(loop, limit); };
    transport_and_protocol<subprocess_transport, subprocess_stream_protocol> r;
    if (shell)
        r = co_await loop.subprocess_shell(factory, std::move(program), std::move(opts));
    else
        r = co_await loop.subprocess_exec(factory, std::move(program), std::move(args), std::move(opts));
    process p(std::move(r.first), std::move(r.second));
    co_return p;
}

}  // namespace

coro<std::pair<std::string, std::string>> process::communicate(std::string input) const {
    return communicate_impl(transport_, protocol_, std::move(input));
}

coro<std::pair<std::string, std::string>> process::communicate() const {
    return communicate_impl(transport_, protocol_, std::string());
}

coro<process> create_subprocess_exec(abstract_event_loop& loop, std::string program, std::vector<std::string> args,
                                     subprocess_options opts) {
    return start(&loop, std::move(program), std::move(args), std::move(opts), false);
}
coro<process> create_subprocess_exec(std::string program, std::vector<std::string> args, subprocess_options opts) {
    return start(nullptr, std::move(program), std::move(args), std::move(opts), false);
}
coro<process> create_subprocess_exec(std::string program, std::vector<std::string> args) {
    return start(nullptr, std::move(program), std::move(args), subprocess_options(), false);
}
coro<process> create_subprocess_exec(std::string program) {
    return start(nullptr, std::move(program), std::vector<std::string>(), subprocess_options(), false);
}
coro<process> create_subprocess_shell(abstract_event_loop& loop, std::string cmd, subprocess_options opts) {
    return start(&loop, std::move(cmd), std::vector<std::string>(), std::move(opts), true);
}
coro<process> create_subprocess_shell(std::string cmd, subprocess_options opts) {
    return start(nullptr, std::move(cmd), std::vector<std::string>(), std::move(opts), true);
}
coro<process> create_subprocess_shell(std::string cmd) {
    return start(nullptr, std::move(cmd), std::vector<std::string>(), subprocess_options(), true);
}

}  // namespace duet
