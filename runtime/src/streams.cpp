#include <algorithm>
#include <cerrno>
#include <span>
#include <typeinfo>

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
    reader_state(const reader_state&) = delete;
    reader_state& operator=(const reader_state&) = delete;
    ~reader_state() {
        if (holder) holder->linked_ = false;
    }

    abstract_event_loop* loop;
    std::size_t limit;
    // The buffered bytes are buf[head, end): reads advance head, and the consumed front is
    // dropped only when appending would otherwise grow the string, so steady-state reads
    // and feeds reuse one allocation. A read that takes the whole buffer takes the string
    // itself (no second copy).
    std::string buf;
    std::size_t head = 0;
    std::exception_ptr error;
    std::shared_ptr<transport> tr;
    // At most one coroutine waits for data: a frameless read(n)/readexactly(n) (the
    // `holder`, while `parked`), or a coroutine (readuntil, read(-1)) in `waiter`. A
    // frameless read is the holder from when it parks until it runs: new bytes go straight
    // into it (the buffer is empty meanwhile), up to n, while `holder_open`.
    read_awaiter* holder = nullptr;
    stream_waiter_list waiter;
    // The flags together (an idle connection's memory counts).
    bool eof = false;
    bool paused = false;
    bool parked = false;  // the holder waits (it was not woken yet)
    bool holder_open = false;
    enum class lent_to : std::uint8_t { none, holder, buffer };
    lent_to lent = lent_to::none;  // a direct read is in progress (see read_buffer)

    std::size_t size() const noexcept { return buf.size() - head; }
    std::string_view data() const noexcept { return std::string_view(buf).substr(head); }

    void append(std::string_view d) {
        if (head != 0 && buf.size() + d.size() > buf.capacity()) {
            buf.erase(0, head);
            head = 0;
        }
        // Bulk data arrives in a run of chunks: room for a run at once, not a regrowth
        // (and a copy) per chunk. Small messages get what they need.
        if (buf.capacity() < buf.size() + d.size() && d.size() >= bulk_chunk)
            buf.reserve(std::max(buf.size() + d.size(), 2 * std::min(limit, bulk_run)));
        buf.append(d);
    }
    static constexpr std::size_t bulk_chunk = 4096;
    static constexpr std::size_t bulk_run = std::size_t{64} * 1024;
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
        if (head == 0 && buf.capacity() <= 2 * n) {
            if (n == buf.size()) {
                // All of it, in a string not much larger than the data: hand the string over.
                std::string r = std::move(buf);
                buf = std::string();
                return r;
            }
            if (buf.size() - n < n) {
                // Most of it: hand the string over and copy the (shorter) rest out of it.
                std::string r = std::move(buf);
                buf.assign(r, n);
                r.resize(n);
                return r;
            }
        }
        std::string r(buf, head, n);
        consume(n);
        return r;
    }
    std::string take_all() { return take(size()); }
    // Puts bytes taken for a read back in front (the read was cancelled before it ran).
    void unread(const std::string& d) { buf.insert(head, d); }

    void check_error() const {
        if (error) std::rethrow_exception(error);
    }
    // Bytes held by a read that waited and has not run yet (they count as buffered).
    std::size_t held() const noexcept { return holder ? holder->taken_.size() : 0; }

    // New data: first into the waiting read, up to its n (waking it once it can finish:
    // a read at its first byte, a readexactly at its n-th), the rest into the buffer.
    void feed(std::string_view d) {
        if (holder_open) {
            read_awaiter* a = holder;
            const auto want = static_cast<std::size_t>(a->n_);
            const std::size_t k = std::min(want - a->taken_.size(), d.size());
            const bool fits = a->taken_.capacity() >= a->taken_.size() + k;
            if (!fits && k < bulk_chunk && a->taken_.empty()) {
                a->taken_ = std::string(d.data(), k);  // a message: allocated exactly, copied once
            } else {
                // Bulk: room for the read's whole n (up to a run), not a regrowth per chunk.
                if (!fits && k >= bulk_chunk)
                    a->taken_.reserve(std::max(a->taken_.size() + k, std::min(want, bulk_run)));
                a->taken_.append(d.data(), k);
            }
            d.remove_prefix(k);
            const bool full = a->taken_.size() == want;
            if (full) holder_open = false;
            if (parked && (full || a->op_ == read_op::some)) release_parked(nullptr);
        }
        if (d.empty()) return;
        append(d);
        waiter.wake_all();
        maybe_pause_transport();
    }
    // ---- direct reads (see stream_reader_protocol::read_buffer): the room lent to the
    // transport's next read, in the waiting read's result or at the buffer's end. The
    // lent room is zero-filled by resize (cheaper than the copy it replaces) and cut back
    // to what the read filled. No member records where the room starts (an idle
    // connection's memory counts): in the buffer it is bulk_run bytes before the end; in
    // the result `head` holds it, the buffer being empty while a read holds bytes.

    std::span<char> read_buffer() {
        if (eof) return {};  // data_received raises, as for any feed after EOF
        if (holder_open) {
            std::string& t = holder->taken_;
            // At most a run per read: a readexactly(n) of a large n fills (and zeroes)
            // its result a run at a time, not all of the rest every time.
            const std::size_t want = std::min(static_cast<std::size_t>(holder->n_) - t.size(), bulk_run);
            if (want < bulk_chunk || size() != 0) return {};
            head = t.size();
            t.resize(head + want);
            lent = lent_to::holder;
            return {t.data() + head, want};
        }
        if (head != 0 && buf.size() + bulk_run > buf.capacity()) {
            buf.erase(0, head);
            head = 0;
        }
        if (buf.capacity() < buf.size() + bulk_run)
            buf.reserve(std::max(buf.size() + bulk_run, 2 * std::min(limit, bulk_run)));
        const std::size_t base = buf.size();
        buf.resize(base + bulk_run);
        lent = lent_to::buffer;
        return {buf.data() + base, bulk_run};
    }

    void read_done(std::size_t n) {
        const lent_to was = std::exchange(lent, lent_to::none);
        if (was == lent_to::holder) {
            read_awaiter* a = holder;
            a->taken_.resize(std::exchange(head, 0) + n);
            if (n == 0) return;
            const bool full = a->taken_.size() == static_cast<std::size_t>(a->n_);
            if (full) holder_open = false;
            if (parked && (full || a->op_ == read_op::some)) release_parked(nullptr);
        } else if (was == lent_to::buffer) {
            buf.resize(buf.size() - bulk_run + n);
            if (n == 0) {
                if (head == buf.size()) clear();
                return;
            }
            waiter.wake_all();
            maybe_pause_transport();
        }
    }

    void wake_at_eof() noexcept {
        waiter.wake_all();
        holder_open = false;
        if (parked) release_parked(nullptr);
    }
    void wake_with_error(const std::exception_ptr& e) noexcept {
        waiter.wake_all(e);
        if (parked) {
            holder_open = false;
            release_parked(e);
        }
    }
    void release_parked(const std::exception_ptr& e) noexcept {
        read_awaiter* a = holder;
        parked = false;
        a->error_ = e;
        a->set_result();
    }

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
        if (!waiter.empty() || parked)
            throw std::runtime_error(std::string(func) +
                                     "() called while another coroutine is already waiting for incoming data");
        // A read that was woken but has not run yet keeps what it received; what comes
        // next goes to the buffer, for this caller.
        holder_open = false;
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

// read(-1): limit-sized blocks until EOF, so that a paused transport keeps being resumed
// as the blocks are taken.
coro<std::string> read_all_impl(reader_ptr st) {
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

// What create_task(r.read(n)) & co. run: the frameless awaiter in a frame that keeps the
// reader alive.
coro<std::string> read_coro(reader_ptr st, read_op op, std::ptrdiff_t n) {
    co_return co_await read_awaiter(&st, op, n);
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

// A writer nobody closed closes its transport when its last handle goes, so a forgotten
// connection does not stay open (asyncio's StreamWriter.__del__).
inline void close_forgotten(const std::shared_ptr<transport>& tr) noexcept {
    try {
        if (tr && !tr->is_closing()) tr->close();
    } catch (...) {  // a destructor cannot report to anyone (the loop may be gone)
    }
}

// A writer's state when it is not the protocol's embedded one (see stream_writer).
struct writer_state {
    std::shared_ptr<transport> tr;
    std::shared_ptr<stream_reader_protocol> proto;
    stream_reader reader;
    abstract_event_loop* loop;
    std::uint32_t refs = 1;  // the stream_writer handles

    writer_state(std::shared_ptr<transport> t, std::shared_ptr<stream_reader_protocol> p, stream_reader r,
                 abstract_event_loop& l)
        : tr(std::move(t)), proto(std::move(p)), reader(std::move(r)), loop(&l) {}
    writer_state(const writer_state&) = delete;
    writer_state& operator=(const writer_state&) = delete;
    ~writer_state() { close_forgotten(tr); }
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
    st.feed(data);
}

void stream_reader::feed_eof() const {
    st_->eof = true;
    st_->wake_at_eof();
}

void stream_reader::set_exception(std::exception_ptr e) const {
    st_->error = e;
    st_->wake_with_error(e);
}

void stream_reader::set_transport(std::shared_ptr<transport> t) const {
    if (st_->tr) throw invalid_state_error("Transport already set");
    st_->tr = std::move(t);
}

bool stream_reader::at_eof() const noexcept {
    return st_->eof && st_->size() == 0 && st_->held() == 0;
}
std::exception_ptr stream_reader::exception() const noexcept {
    return st_->error;
}
std::size_t stream_reader::limit() const noexcept {
    return st_->limit;
}
std::size_t stream_reader::buffered() const noexcept {
    return st_->size() + st_->held();
}
abstract_event_loop& stream_reader::get_loop() const noexcept {
    return *st_->loop;
}

// ---- the frameless reads

namespace detail {

bool read_awaiter::await_ready() {
    reader_state& st = **owner_;
    switch (op_) {
        case read_op::some:
            st.check_error();
            if (n_ < 0) return false;  // read(-1) runs as a coroutine
            return n_ == 0 || st.size() > 0 || st.eof;
        case read_op::exactly:
            if (n_ < 0) throw std::invalid_argument("readexactly size can not be less than zero");
            st.check_error();
            return n_ == 0 || st.size() >= static_cast<std::size_t>(n_) || st.eof;
        case read_op::line: {
            st.check_error();
            // A whole line within the limit is there: no wait, no coroutine.
            std::size_t at = st.data().find('\n');
            return at != std::string_view::npos && at <= st.limit;
        }
    }
    return false;
}

void read_awaiter::await_suspend(co::coroutine_handle<> h) {
    if (op_ == read_op::line || n_ < 0) {
        // May wait several times: the coroutine does it, run inline from here.
        coro<std::string> c =
            op_ == read_op::line ? readuntil_impl(*owner_, "\n", {}, until_mode::line) : read_all_impl(*owner_);
        error_.~exception_ptr();
        new (&slow_) coro<std::string>(std::move(c));
        slow_mode_ = true;
        (void)slow_.await_ready();
        slow_.await_suspend(h);
        return;
    }
    reader_state& st = **owner_;
    st.prepare_wait(op_ == read_op::exactly ? "readexactly" : "read");
    wait().await_suspend(h);  // throws outside a task, before anything is parked
    // readexactly: what is buffered (fewer than n bytes) is the start of its result; from
    // here on the buffer stays empty while it waits (bytes go to taken_).
    if (st.size() > 0) taken_ = st.take_all();
    if (st.holder) st.holder->linked_ = false;  // a woken read that has not run: keeps its bytes
    st.holder = this;
    st.parked = true;
    st.holder_open = true;
    linked_ = suspended_ = true;
}

std::string read_awaiter::await_resume() {
    if (slow_mode_) return slow_.await_resume();
    reader_state& st = **owner_;
    if (!suspended_) {
        // Answered from the buffer, without waiting.
        switch (op_) {
            case read_op::some: {
                std::string r = st.take(static_cast<std::size_t>(n_));
                st.maybe_resume_transport();
                return r;
            }
            case read_op::exactly: {
                const auto want = static_cast<std::size_t>(n_);
                if (want == 0) return std::string();
                if (st.size() < want) throw incomplete_read_error(st.take_all(), want);
                std::string r = st.take(want);
                st.maybe_resume_transport();
                return r;
            }
            case read_op::line: {
                std::string r = st.take(st.data().find('\n') + 1);
                st.maybe_resume_transport();
                return r;
            }
        }
    }
    unlink();
    try {
        wait().await_resume();  // the task's cancellation, if that is what woke it
        if (error_) std::rethrow_exception(error_);
    } catch (...) {
        // A read that raises consumes nothing: its bytes go back in front.
        if (!taken_.empty()) st.unread(taken_);
        throw;
    }
    if (op_ == read_op::exactly && taken_.size() < static_cast<std::size_t>(n_)) {
        // EOF came first: asyncio's IncompleteReadError with everything there was.
        std::string partial = std::move(taken_);
        partial += st.take_all();
        throw incomplete_read_error(std::move(partial), static_cast<std::size_t>(n_));
    }
    st.maybe_resume_transport();
    return std::move(taken_);
}

void read_awaiter::unlink_slow() noexcept {
    reader_state& st = **owner_;
    if (st.holder == this) {
        st.holder = nullptr;
        st.parked = st.holder_open = false;
    }
    linked_ = false;
}

}  // namespace detail

coro<std::string> stream_read::as_coro() && {
    return detail::read_coro(*st(), op(), n_);
}
coro<std::string> stream_reader::readuntil(std::string separator) const {
    return detail::readuntil_impl(st_, std::move(separator), {}, detail::until_mode::one);
}
coro<std::string> stream_reader::readuntil(std::vector<std::string> separators) const {
    return detail::readuntil_impl(st_, {}, std::move(separators), detail::until_mode::many);
}

// ---- stream_reader_protocol

struct stream_reader_protocol::waits_state {
    detail::stream_waiter_list drain;
    detail::stream_waiter_list closed;
    std::exception_ptr lost_error;
};

stream_reader_protocol::waits_state& stream_reader_protocol::waits() {
    if (!waits_) waits_ = std::make_unique<waits_state>();
    return *waits_;
}

std::exception_ptr stream_reader_protocol::lost_error() const noexcept {
    return waits_ ? waits_->lost_error : nullptr;
}

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
    if (!c) {
        // A plain function: nothing to run, and the callable is not needed any more. Let
        // it go: a callable that keeps this connection's writer (and so this protocol)
        // would otherwise make a cycle that nothing breaks.
        cb_.reset();
        return;
    }
    auto task = loop.create_task(std::move(c));
    // The callable stays alive until its task ends (a lambda coroutine's frame points at
    // its captures).
    // One pointer captured (an idle connection's memory counts): the protocol holds the
    // callable, the loop and, until the connection is lost, the transport.
    task.add_done_callback([self = shared_from_this()](basic_future& f) {
        // The task's frame is gone: the callable may go too (see above).
        self->cb_.reset();
        if (f.cancelled()) {
            if (self->transport_) self->transport_->close();
            return;
        }
        if (auto e = f.exception()) {
            exception_context ctx;
            ctx.message = "Unhandled exception in client_connected_cb";
            ctx.exception = e;
            self->reader_.get_loop().call_exception_handler(ctx);
            if (self->transport_) self->transport_->close();
        }
    });
}

void stream_reader_protocol::data_received(std::string_view data) {
    if (reader_) reader_.feed_data(data);
}

std::span<char> stream_reader_protocol::read_buffer() {
    // A subclass may override data_received to see the bytes: it keeps getting them there.
    if (!reader_ || typeid(*this) != typeid(stream_reader_protocol)) return {};
    return reader_.st_->read_buffer();
}

void stream_reader_protocol::read_done(std::size_t n) {
    if (reader_) reader_.st_->read_done(n);
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
    if (error) waits().lost_error = error;
    paused_ = false;
    if (waits_) {
        waits_->closed.wake_all(error);
        // Paused drains wake: with the error, or normally if the close was clean.
        waits_->drain.wake_all(error);
    }
    // transport_ stays: the embedded writer's transport() is it (no cycle remains: the
    // transport let go of this protocol before calling this).
}

void stream_reader_protocol::pause_writing() {
    paused_ = true;
}

void stream_reader_protocol::resume_writing() {
    paused_ = false;
    if (waits_) waits_->drain.wake_all();
}

coro<void> stream_reader_protocol::drain_helper() {
    // The frame keeps the protocol alive while it waits.
    auto self = shared_from_this();
    if (lost_) {
        if (auto e = lost_error()) std::rethrow_exception(e);
        throw os_error(ECONNRESET, "Connection lost");
    }
    if (!paused_) co_return;
    co_await detail::stream_waiter(waits().drain);
}

coro<void> stream_reader_protocol::wait_closed() {
    auto self = shared_from_this();
    if (!lost_) co_await detail::stream_waiter(waits().closed);
    if (auto e = lost_error()) std::rethrow_exception(e);
}

// ---- stream_writer

stream_writer::stream_writer(std::shared_ptr<duet::transport> t, std::shared_ptr<stream_reader_protocol> p,
                             stream_reader reader, abstract_event_loop& loop) {
    if (!t || !p) throw std::invalid_argument("stream_writer: the transport and the protocol must not be null");
    stream_reader_protocol& proto = *p;
    if (proto.writers_ == 0 && reader && reader == proto.reader_ && &loop == &reader.get_loop() &&
        t == proto.transport_) {
        // The connection's own writer: the protocol holds what it needs.
        proto.writer_self_ = std::move(p);
        proto.writers_ = 1;
        h_ = reinterpret_cast<std::uintptr_t>(&proto) | 1;
        return;
    }
    h_ =
        reinterpret_cast<std::uintptr_t>(new detail::writer_state(std::move(t), std::move(p), std::move(reader), loop));
}

void stream_writer::add_ref() const noexcept {
    if (stream_reader_protocol* p = embedded())
        ++p->writers_;
    else if (h_)
        ++own()->refs;
}

void stream_writer::release() noexcept {
    if (stream_reader_protocol* p = embedded()) {
        h_ = 0;
        if (--p->writers_ != 0) return;
        detail::close_forgotten(p->transport_);
        auto last = std::move(p->writer_self_);  // may be the protocol's last reference
    } else if (h_) {
        detail::writer_state* s = own();
        h_ = 0;
        if (--s->refs == 0) delete s;
    }
}

void stream_writer::write(std::string_view data) const {
    transport()->write(data);
}
void stream_writer::write_owned(std::string&& data) const {
    transport()->write_owned(std::move(data));
}
void stream_writer::write_eof() const {
    transport()->write_eof();
}
bool stream_writer::can_write_eof() const noexcept {
    return transport()->can_write_eof();
}
void stream_writer::close() const {
    transport()->close();
}
bool stream_writer::is_closing() const noexcept {
    return transport()->is_closing();
}
std::any stream_writer::get_extra_info(std::string_view name) const {
    return transport()->get_extra_info(name);
}
const std::shared_ptr<transport>& stream_writer::transport() const noexcept {
    if (stream_reader_protocol* p = embedded()) return p->transport_;
    return own()->tr;
}
const std::shared_ptr<stream_reader_protocol>& stream_writer::protocol() const noexcept {
    if (stream_reader_protocol* p = embedded()) return p->writer_self_;
    return own()->proto;
}
const stream_reader& stream_writer::reader() const noexcept {
    if (stream_reader_protocol* p = embedded()) return p->reader_;
    return own()->reader;
}
abstract_event_loop& stream_writer::get_loop() const noexcept {
    if (stream_reader_protocol* p = embedded()) return p->reader_.get_loop();
    return *own()->loop;
}

namespace detail {

// The frame holds a handle: the writer (and so its transport) stays open while it runs.
coro<void> drain_awaiter::run(stream_writer w) {
    if (const stream_reader& r = w.reader()) {
        if (auto e = r.exception()) std::rethrow_exception(e);
    }
    if (w.is_closing()) {
        // Let connection_lost run first, so that its error is the one raised; a writer
        // that is closing has nothing left to drain for (write(); drain() in a loop ends
        // instead of spinning).
        co_await sleep(0);
        if (!w.protocol()->is_connection_lost()) throw os_error(ECONNRESET, "Connection lost");
    }
    co_await w.protocol()->drain_helper();
}

}  // namespace detail

namespace {

coro<void> wait_closed_impl(stream_writer w) {
    co_await w.protocol()->wait_closed();
}

}  // namespace

namespace detail {

bool drain_awaiter::await_ready() {
    const stream_writer& w = *owner_;
    if (const stream_reader& r = w.reader()) {
        if (auto e = r.exception()) std::rethrow_exception(e);
    }
    // The common case: nothing to wait for, nothing to raise.
    const stream_reader_protocol& p = *w.protocol();
    return !p.is_writing_paused() && !p.is_connection_lost() && !w.is_closing();
}

void drain_awaiter::await_suspend(co::coroutine_handle<> h) {
    slow_ = run(*owner_);
    (void)slow_.await_ready();
    slow_.await_suspend(h);
}

void drain_awaiter::await_resume() {
    if (slow_) slow_.await_resume();
}

}  // namespace detail

coro<void> stream_drain::as_coro() && {
    return detail::drain_awaiter::run(*st_);
}

coro<void> stream_writer::wait_closed() const {
    return wait_closed_impl(*this);
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
