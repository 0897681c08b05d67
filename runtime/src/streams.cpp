#include <algorithm>
#include <cerrno>
#include <span>

#include <duet/streams.hpp>

namespace duet {

incomplete_read_error::incomplete_read_error(std::string partial, std::optional<std::size_t> expected)
    : std::runtime_error(std::to_string(partial.size()) + " bytes read on a total of " +
                         (expected ? std::to_string(*expected) : std::string("undefined")) + " expected bytes"),
      partial_(std::move(partial)),
      expected_(expected) {}

namespace detail {

// ---- the reader's state

struct reader_state {
    reader_state(abstract_event_loop& l, std::size_t lim) : loop(&l), limit(lim) {}

    abstract_event_loop* loop;
    std::size_t limit;
    // The buffered bytes are buf[head, end): reads advance head, and the consumed front is
    // dropped only when appending would otherwise grow the string, so steady-state reads
    // and feeds reuse one allocation.
    std::string buf;
    std::size_t head = 0;
    bool eof = false;
    bool paused = false;
    std::exception_ptr error;
    std::shared_ptr<transport> tr;
    stream_waiter_list waiter;  // at most one coroutine waits for data

    std::size_t size() const noexcept { return buf.size() - head; }
    std::string_view data() const noexcept { return std::string_view(buf).substr(head); }

    void append(std::string_view d) {
        if (head != 0 && buf.size() + d.size() > buf.capacity()) {
            buf.erase(0, head);
            head = 0;
        }
        buf.append(d);
    }
    void consume(std::size_t n) noexcept {
        head += n;
        if (head >= buf.size()) clear();
    }
    void clear() noexcept {
        buf.clear();
        head = 0;
        // A burst (readexactly of a large n) may have grown the buffer far beyond what
        // the limit lets it hold in steady state: give that memory back.
        if (buf.capacity() > 4 * limit) buf.shrink_to_fit();
    }
    std::string take(std::size_t n) {
        n = std::min(n, size());
        std::string r(buf, head, n);
        consume(n);
        return r;
    }
    std::string take_all() { return take(size()); }

    void check_error() const {
        if (error) std::rethrow_exception(error);
    }
    void wake_waiter() noexcept { waiter.wake_all(); }

    // asyncio's _maybe_resume_transport: the buffer is back at or under the limit.
    void maybe_resume_transport() {
        if (paused && size() <= limit) {
            paused = false;
            tr->resume_reading();
        }
    }
    void maybe_pause_transport() {
        if (tr && !paused && size() > 2 * limit) {
            try {
                tr->pause_reading();
                paused = true;
            } catch (const not_supported_error&) {
                tr.reset();  // a transport that cannot pause: stop asking (as asyncio does)
            }
        }
    }

    // Checks before parking the reading coroutine (asyncio's _wait_for_data).
    void prepare_wait(const char* func) {
        if (!waiter.empty())
            throw std::runtime_error(std::string(func) +
                                     "() called while another coroutine is already waiting for incoming data");
        // Waiting while paused would never end (readexactly(n) with n > limit): resume.
        if (paused) {
            paused = false;
            tr->resume_reading();
        }
    }
};

namespace {

using reader_ptr = std::shared_ptr<reader_state>;

// Whether `text` at `pos` starts with `s`.
bool starts_with_at(std::string_view text, std::size_t pos, std::string_view s) {
    return pos <= text.size() && text.substr(pos).starts_with(s);
}

coro<std::string> read_impl(reader_ptr st, std::ptrdiff_t n) {
    st->check_error();
    if (n == 0) co_return std::string();
    if (n < 0) {
        // Read limit-sized blocks until EOF, so that a paused transport keeps being
        // resumed as the blocks are taken.
        std::string all;
        for (;;) {
            st->check_error();
            if (st->size() == 0 && !st->eof) {
                st->prepare_wait("read");
                co_await stream_waiter(st->waiter);
            }
            if (st->size() == 0) break;
            all.append(st->data().substr(0, st->limit));
            st->consume(std::min(st->size(), st->limit));
            st->maybe_resume_transport();
        }
        co_return all;
    }
    if (st->size() == 0 && !st->eof) {
        st->prepare_wait("read");
        co_await stream_waiter(st->waiter);
    }
    std::string r = st->take(static_cast<std::size_t>(n));
    st->maybe_resume_transport();
    co_return r;
}

coro<std::string> readexactly_impl(reader_ptr st, std::ptrdiff_t n) {
    if (n < 0) throw std::invalid_argument("readexactly size can not be less than zero");
    st->check_error();
    const auto want = static_cast<std::size_t>(n);
    if (want == 0) co_return std::string();
    while (st->size() < want) {
        if (st->eof) throw incomplete_read_error(st->take_all(), want);
        st->prepare_wait("readexactly");
        co_await stream_waiter(st->waiter);
    }
    std::string r = st->take(want);
    st->maybe_resume_transport();
    co_return r;
}

enum class until_mode { one, many, line };

// readuntil with one separator (`one`) or several (`many`); for readline, an incomplete
// line is returned and an over-long one discarded (see stream_reader).
coro<std::string> readuntil_impl(reader_ptr st, std::string one, std::vector<std::string> many, until_mode mode) {
    const bool line = mode == until_mode::line;
    std::span<const std::string> seps(&one, 1);
    if (mode == until_mode::many) {
        if (many.empty()) throw std::invalid_argument("Separator should contain at least one element");
        // Shortest first: on equal ends the shorter separator wins.
        std::stable_sort(many.begin(), many.end(), [](const auto& a, const auto& b) { return a.size() < b.size(); });
        seps = many;
    }
    if (seps.front().empty()) throw std::invalid_argument("Separator should be at least one-byte string");
    st->check_error();
    const std::size_t min_len = seps.front().size();
    const std::size_t max_len = seps.back().size();

    // Bytes at the front known to hold no complete separator.
    std::size_t offset = 0;
    std::size_t match_start = 0;
    std::size_t match_end = 0;
    std::optional<limit_overrun_error> overrun;
    std::optional<std::string> partial;
    for (;;) {
        std::string_view data = st->data();
        offset = std::min(offset, data.size());
        if (data.size() - offset >= min_len) {
            bool found = false;
            for (const auto& s : seps) {
                std::size_t at = data.find(s, offset);
                if (at != std::string_view::npos && (!found || at + s.size() < match_end)) {
                    found = true;
                    match_start = at;
                    match_end = at + s.size();
                }
            }
            if (found) break;
            // A separator may straddle the end: keep its possible beginning unscanned.
            offset = data.size() + 1 > max_len ? data.size() + 1 - max_len : 0;
            if (offset > st->limit) {
                overrun.emplace("Separator is not found, and chunk exceed the limit", offset);
                break;
            }
        }
        // Check EOF only now: the last chunk may have completed a separator.
        if (st->eof) {
            partial = st->take_all();
            break;
        }
        st->prepare_wait("readuntil");
        co_await stream_waiter(st->waiter);
    }
    if (!overrun && !partial && match_start > st->limit)
        overrun.emplace("Separator is found, but chunk is longer than limit", match_start);
    if (partial) {
        if (line) co_return std::move(*partial);
        throw incomplete_read_error(std::move(*partial), std::nullopt);
    }
    if (overrun) {
        if (!line) throw std::move(*overrun);
        // readline drops the over-long line: up to its "\n" if that is where the count
        // stops, else everything buffered.
        if (starts_with_at(st->data(), overrun->consumed(), one))
            st->consume(overrun->consumed() + one.size());
        else
            st->clear();
        st->maybe_resume_transport();
        throw std::invalid_argument(overrun->what());
    }
    std::string r = st->take(match_end);
    st->maybe_resume_transport();
    co_return r;
}

}  // namespace

// ---- the writer's state

struct writer_state {
    std::shared_ptr<transport> tr;
    std::shared_ptr<stream_reader_protocol> proto;
    stream_reader reader;
    abstract_event_loop* loop;

    writer_state(std::shared_ptr<transport> t, std::shared_ptr<stream_reader_protocol> p, stream_reader r,
                 abstract_event_loop& l)
        : tr(std::move(t)), proto(std::move(p)), reader(std::move(r)), loop(&l) {}
    writer_state(const writer_state&) = delete;
    writer_state& operator=(const writer_state&) = delete;
    // The last handle is gone: a writer nobody closed closes its transport, so a
    // forgotten connection does not stay open.
    ~writer_state() {
        try {
            if (tr && !tr->is_closing()) tr->close();
        } catch (...) {  // a destructor cannot report to anyone (the loop may be gone)
        }
    }
};

}  // namespace detail

// ---- stream_reader

stream_reader::stream_reader(abstract_event_loop& loop, std::size_t limit) {
    if (limit == 0) throw std::invalid_argument("Limit cannot be <= 0");
    st_ = std::make_shared<detail::reader_state>(loop, limit);
}

void stream_reader::feed_data(std::string_view data) const {
    auto& st = *st_;
    if (st.eof) throw invalid_state_error("feed_data after feed_eof");
    if (data.empty()) return;
    st.append(data);
    st.wake_waiter();
    st.maybe_pause_transport();
}

void stream_reader::feed_eof() const {
    st_->eof = true;
    st_->wake_waiter();
}

void stream_reader::set_exception(std::exception_ptr e) const {
    st_->error = e;
    st_->waiter.wake_all(e);
}

void stream_reader::set_transport(std::shared_ptr<transport> t) const {
    if (st_->tr) throw invalid_state_error("Transport already set");
    st_->tr = std::move(t);
}

bool stream_reader::at_eof() const noexcept {
    return st_->eof && st_->size() == 0;
}
std::exception_ptr stream_reader::exception() const noexcept {
    return st_->error;
}
std::size_t stream_reader::limit() const noexcept {
    return st_->limit;
}
std::size_t stream_reader::buffered() const noexcept {
    return st_->size();
}
abstract_event_loop& stream_reader::get_loop() const noexcept {
    return *st_->loop;
}

coro<std::string> stream_reader::read(std::ptrdiff_t n) const {
    return detail::read_impl(st_, n);
}
coro<std::string> stream_reader::readline() const {
    return detail::readuntil_impl(st_, "\n", {}, detail::until_mode::line);
}
coro<std::string> stream_reader::readexactly(std::ptrdiff_t n) const {
    return detail::readexactly_impl(st_, n);
}
coro<std::string> stream_reader::readuntil(std::string separator) const {
    return detail::readuntil_impl(st_, std::move(separator), {}, detail::until_mode::one);
}
coro<std::string> stream_reader::readuntil(std::vector<std::string> separators) const {
    return detail::readuntil_impl(st_, {}, std::move(separators), detail::until_mode::many);
}

// ---- stream_reader_protocol

stream_reader_protocol::stream_reader_protocol(stream_reader reader) : reader_(std::move(reader)) {}

stream_reader_protocol::stream_reader_protocol(stream_reader reader, client_connected_callback cb)
    : stream_reader_protocol(std::move(reader),
                             cb ? std::make_shared<const client_connected_callback>(std::move(cb)) : nullptr) {}

stream_reader_protocol::stream_reader_protocol(stream_reader reader,
                                               std::shared_ptr<const client_connected_callback> cb)
    : reader_(std::move(reader)), cb_(std::move(cb)) {
    if (cb_ && !reader_) throw std::invalid_argument("stream_reader_protocol: a client_connected_cb needs a reader");
}

stream_reader_protocol::~stream_reader_protocol() = default;

void stream_reader_protocol::connection_made(std::shared_ptr<transport> t) {
    transport_ = t;
    if (reader_) reader_.set_transport(t);
    if (!cb_) return;
    abstract_event_loop& loop = reader_.get_loop();
    coro<void> c = (*cb_)(reader_, stream_writer(t, shared_from_this(), reader_, loop));
    if (!c) return;  // a plain function: nothing to run
    auto task = loop.create_task(std::move(c));
    // The callable stays alive until its task ends (a lambda coroutine's frame points at
    // its captures).
    task.add_done_callback([cb = cb_, t, lp = &loop](basic_future& f) {
        if (f.cancelled()) {
            t->close();
            return;
        }
        if (auto e = f.exception()) {
            exception_context ctx;
            ctx.message = "Unhandled exception in client_connected_cb";
            ctx.exception = e;
            lp->call_exception_handler(ctx);
            t->close();
        }
    });
}

void stream_reader_protocol::data_received(std::string_view data) {
    if (reader_) reader_.feed_data(data);
}

bool stream_reader_protocol::eof_received() {
    if (reader_) reader_.feed_eof();
    return true;
}

void stream_reader_protocol::connection_lost(std::exception_ptr error) {
    if (reader_) {
        if (error)
            reader_.set_exception(error);
        else
            reader_.feed_eof();
    }
    lost_ = true;
    lost_error_ = error;
    closed_waiters_.wake_all(error);
    // Paused drains wake: with the error, or normally if the close was clean.
    paused_ = false;
    drain_waiters_.wake_all(error);
    transport_.reset();
}

void stream_reader_protocol::pause_writing() {
    paused_ = true;
}

void stream_reader_protocol::resume_writing() {
    paused_ = false;
    drain_waiters_.wake_all();
}

coro<void> stream_reader_protocol::drain_helper() {
    // The frame keeps the protocol alive while it waits.
    auto self = shared_from_this();
    if (lost_) {
        if (lost_error_) std::rethrow_exception(lost_error_);
        throw os_error(ECONNRESET, "Connection lost");
    }
    if (!paused_) co_return;
    co_await detail::stream_waiter(drain_waiters_);
}

coro<void> stream_reader_protocol::wait_closed() {
    auto self = shared_from_this();
    if (!lost_) co_await detail::stream_waiter(closed_waiters_);
    if (lost_error_) std::rethrow_exception(lost_error_);
}

// ---- stream_writer

stream_writer::stream_writer(std::shared_ptr<duet::transport> t, std::shared_ptr<stream_reader_protocol> p,
                             stream_reader reader, abstract_event_loop& loop) {
    if (!t || !p) throw std::invalid_argument("stream_writer: the transport and the protocol must not be null");
    st_ = std::make_shared<detail::writer_state>(std::move(t), std::move(p), std::move(reader), loop);
}

void stream_writer::write(std::string_view data) const {
    st_->tr->write(data);
}
void stream_writer::write_eof() const {
    st_->tr->write_eof();
}
bool stream_writer::can_write_eof() const noexcept {
    return st_->tr->can_write_eof();
}
void stream_writer::close() const {
    st_->tr->close();
}
bool stream_writer::is_closing() const noexcept {
    return st_->tr->is_closing();
}
std::any stream_writer::get_extra_info(std::string_view name) const {
    return st_->tr->get_extra_info(name);
}
const std::shared_ptr<transport>& stream_writer::transport() const noexcept {
    return st_->tr;
}
const std::shared_ptr<stream_reader_protocol>& stream_writer::protocol() const noexcept {
    return st_->proto;
}
abstract_event_loop& stream_writer::get_loop() const noexcept {
    return *st_->loop;
}

namespace {

coro<void> drain_impl(std::shared_ptr<detail::writer_state> st) {
    if (st->reader) {
        if (auto e = st->reader.exception()) std::rethrow_exception(e);
    }
    if (st->tr->is_closing()) {
        // Let connection_lost run first, so that its error is the one raised; a writer
        // that is closing has nothing left to drain for (write(); drain() in a loop ends
        // instead of spinning).
        co_await sleep(0);
        if (!st->proto->is_connection_lost()) throw os_error(ECONNRESET, "Connection lost");
    }
    co_await st->proto->drain_helper();
}

coro<void> wait_closed_impl(std::shared_ptr<detail::writer_state> st) {
    co_await st->proto->wait_closed();
}

}  // namespace

coro<void> stream_writer::drain() const {
    return drain_impl(st_);
}
coro<void> stream_writer::wait_closed() const {
    return wait_closed_impl(st_);
}

// ---- the openers

namespace {

abstract_event_loop& loop_or_running(abstract_event_loop* loop) {
    return loop ? *loop : get_running_loop();
}

coro<std::pair<stream_reader, stream_writer>> open_connection_impl(abstract_event_loop* lp, std::string host,
                                                                   std::uint16_t port, std::size_t limit,
                                                                   connection_options opts) {
    abstract_event_loop& loop = loop_or_running(lp);
    stream_reader reader(loop, limit);
    // Named, not a temporary in the co_await: g++ 12 destroys such a lambda's captures
    // twice (docs/TOOLCHAIN.md).
    auto factory = [reader] { return std::make_shared<stream_reader_protocol>(reader); };
    auto tp = co_await loop.create_connection(std::move(factory), std::move(host), port, std::move(opts));
    stream_writer writer(std::move(tp.first), std::move(tp.second), reader, loop);
    co_return std::pair<stream_reader, stream_writer>(std::move(reader), std::move(writer));
}

coro<std::pair<stream_reader, stream_writer>> open_unix_connection_impl(abstract_event_loop* lp, std::string path,
                                                                        std::size_t limit) {
    abstract_event_loop& loop = loop_or_running(lp);
    stream_reader reader(loop, limit);
    auto factory = [reader] { return std::make_shared<stream_reader_protocol>(reader); };  // named: see above
    auto tp = co_await loop.create_unix_connection(std::move(factory), std::move(path));
    stream_writer writer(std::move(tp.first), std::move(tp.second), reader, loop);
    co_return std::pair<stream_reader, stream_writer>(std::move(reader), std::move(writer));
}

// Each connection's protocol: a new reader, and the server's one callback.
auto server_protocol_factory(abstract_event_loop& loop, client_connected_callback cb, std::size_t limit) {
    if (!cb) throw std::invalid_argument("start_server: client_connected_cb is empty");
    if (limit == 0) throw std::invalid_argument("Limit cannot be <= 0");
    auto shared = std::make_shared<const client_connected_callback>(std::move(cb));
    return [lp = &loop, shared, limit] {
        return std::make_shared<stream_reader_protocol>(stream_reader(*lp, limit), shared);
    };
}

}  // namespace

coro<std::pair<stream_reader, stream_writer>> open_connection(abstract_event_loop& loop, std::string host,
                                                              std::uint16_t port, std::size_t limit,
                                                              connection_options opts) {
    return open_connection_impl(&loop, std::move(host), port, limit, std::move(opts));
}
coro<std::pair<stream_reader, stream_writer>> open_connection(std::string host, std::uint16_t port, std::size_t limit,
                                                              connection_options opts) {
    return open_connection_impl(nullptr, std::move(host), port, limit, std::move(opts));
}
coro<std::pair<stream_reader, stream_writer>> open_unix_connection(abstract_event_loop& loop, std::string path,
                                                                   std::size_t limit) {
    return open_unix_connection_impl(&loop, std::move(path), limit);
}
coro<std::pair<stream_reader, stream_writer>> open_unix_connection(std::string path, std::size_t limit) {
    return open_unix_connection_impl(nullptr, std::move(path), limit);
}

namespace detail {

coro<std::shared_ptr<server>> start_server_impl(abstract_event_loop* lp, client_connected_callback cb,
                                                std::vector<std::string> hosts, std::uint16_t port, std::size_t limit,
                                                server_options opts) {
    abstract_event_loop& loop = loop_or_running(lp);
    auto factory = server_protocol_factory(loop, std::move(cb), limit);  // named: see open_connection_impl
    co_return co_await loop.create_server(std::move(factory), std::move(hosts), port, std::move(opts));
}

coro<std::shared_ptr<server>> start_unix_server_impl(abstract_event_loop* lp, client_connected_callback cb,
                                                     std::string path, std::size_t limit, server_options opts) {
    abstract_event_loop& loop = loop_or_running(lp);
    auto factory = server_protocol_factory(loop, std::move(cb), limit);  // named: see open_connection_impl
    co_return co_await loop.create_unix_server(std::move(factory), std::move(path), std::move(opts));
}

}  // namespace detail

}  // namespace duet
