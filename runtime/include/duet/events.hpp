// The event loop interface (asyncio.AbstractEventLoop) and the running-loop accessors.
#pragma once

#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

#include <duet/coro.hpp>
#include <duet/detail/debug.hpp>
#include <duet/futures.hpp>
#include <duet/handles.hpp>
#include <duet/network.hpp>
#include <duet/subprocess_options.hpp>
#include <duet/tasks.hpp>

namespace duet {

// What call_exception_handler receives (asyncio's context dict).
struct exception_context {
    std::string message;
    std::exception_ptr exception;
    std::optional<duet::basic_future> future;
    std::optional<duet::task_ref> task;
    std::optional<duet::handle> handle;
    // "Unhandled error in exception handler": the context the failing handler was given.
    std::shared_ptr<const exception_context> context = nullptr;
};

using exception_handler = std::function<void(abstract_event_loop&, const exception_context&)>;

// How a task factory starts the task it is given: on the next iteration (asyncio's
// default) or at once, running its first step inside create_task (eager tasks).
enum class task_start { soon, eager };
using task_factory = std::function<task_start(abstract_event_loop&, basic_task&)>;

class executor;
struct fiber_options;

namespace detail {
// Which context a new task runs in: a copy of the current one (the default), or the
// given context itself (asyncio's create_task(..., context=ctx)).
class context_choice {
public:
    context_choice() noexcept = default;
    context_choice(const context& ctx) noexcept : ctx_(&ctx) {}
    context_slot slot() const { return ctx_ ? ctx_->state() : capture_context(); }

private:
    const context* ctx_ = nullptr;
};
}  // namespace detail

class abstract_event_loop {
public:
    abstract_event_loop() = default;
    abstract_event_loop(const abstract_event_loop&) = delete;
    abstract_event_loop& operator=(const abstract_event_loop&) = delete;
    virtual ~abstract_event_loop() = default;

    // --- running and stopping
    // Runs iterations until stop(); loop thread; std::runtime_error if closed, running, or another loop runs here.
    virtual void run_forever() = 0;
    // Runs until f is done; returns its result or rethrows its exception. As run_forever, plus
    // std::invalid_argument (a null future, or another loop's) and std::runtime_error if stopped first.
    // The result is copied: the caller's future or task keeps it (asyncio's result() can be asked
    // again); only a value that cannot be copied is moved out.
    template <class T>
    T run_until_complete(future<T> f) {
        return run_until_complete_impl(std::move(f), false);
    }
    // Wraps the coroutine in a task and runs until it is done; raises as run_until_complete(f). A loop that
    // cannot run (closed, running) refuses before making the task: the coroutine never starts.
    template <coroutine_arg C>
    coroutine_result_t<C> run_until_complete(C&& c, call_site site = {}) {
        check_can_run();
        // The task is ours alone: its value is moved out.
        return run_until_complete_impl(
            future<coroutine_result_t<C>>(create_task(std::forward<C>(c), {}, detail::context_choice{}, site)), true);
    }
    // Makes run_forever return after the current iteration (called before it: after one); loop thread; never raises.
    virtual void stop() = 0;
    // Whether run_forever / run_until_complete is on the stack; loop thread; never raises.
    virtual bool is_running() const noexcept = 0;
    // Whether close() was called; any time; never raises.
    virtual bool is_closed() const noexcept = 0;
    // Drops pending callbacks and closes the backend; loop thread; std::runtime_error while running; twice is fine.
    virtual void close() = 0;

    // --- scheduling callbacks
    // Runs f(a...) in a later iteration, FIFO; loop thread (debug mode raises elsewhere); std::runtime_error if closed.
    template <class F, class... A>
    handle call_soon(F&& f, A&&... a) {
        return call_soon_node(new detail::handle_node(nullptr, bind(std::forward<F>(f), std::forward<A>(a)...), false));
    }
    // As call_soon, and wakes the loop; any thread (the only such method); std::runtime_error if closed.
    template <class F, class... A>
    handle call_soon_threadsafe(F&& f, A&&... a) {
        return call_soon_threadsafe_cb(bind(std::forward<F>(f), std::forward<A>(a)...));
    }
    // Runs f(a...) `delay` seconds after time(), deadline order; loop thread; std::runtime_error if closed,
    // std::invalid_argument for NaN.
    template <class F, class... A>
    timer_handle call_later(double delay, F&& f, A&&... a) {
        return call_at_node(time() + delay,
                            new detail::handle_node(nullptr, bind(std::forward<F>(f), std::forward<A>(a)...), false));
    }
    // call_later with a std::chrono duration.
    template <class Rep, class Period, class F, class... A>
    timer_handle call_later(std::chrono::duration<Rep, Period> delay, F&& f, A&&... a) {
        return call_later(std::chrono::duration<double>(delay).count(), std::forward<F>(f), std::forward<A>(a)...);
    }
    // Runs f(a...) at loop time `when`; loop thread; std::runtime_error if closed, std::invalid_argument for NaN.
    template <class F, class... A>
    timer_handle call_at(double when, F&& f, A&&... a) {
        return call_at_node(when,
                            new detail::handle_node(nullptr, bind(std::forward<F>(f), std::forward<A>(a)...), false));
    }
    // The loop's monotonic clock, in seconds; any time; never raises.
    virtual double time() const noexcept = 0;

    // --- watching file descriptors (asyncio's add_reader & co.). A loop whose backend
    // cannot watch fds raises not_supported_error from all four, naming the backend.
    // Runs f(a...) as a loop callback in each iteration in which `fd` is readable (EOF and
    // errors count); replaces an earlier reader of `fd`. Loop thread only.
    template <class F, class... A>
    void add_reader(int fd, F&& f, A&&... a) {
        add_fd_callback(fd, 1, bind(std::forward<F>(f), std::forward<A>(a)...));
    }
    // Runs f(a...) as a loop callback in each iteration in which `fd` is writable;
    // replaces an earlier writer of `fd`. Loop thread only.
    template <class F, class... A>
    void add_writer(int fd, F&& f, A&&... a) {
        add_fd_callback(fd, 2, bind(std::forward<F>(f), std::forward<A>(a)...));
    }
    // Stops watching `fd` for reading (a callback already queued does not run); whether a
    // reader was registered (false on a closed loop).
    virtual bool remove_reader(int fd) = 0;
    // Stops watching `fd` for writing, as remove_reader does for reading.
    virtual bool remove_writer(int fd) = 0;

    // --- sockets the caller owns (asyncio's sock_* methods): `fd` is a non-blocking socket;
    // each waits with add_reader/add_writer, so every loop that watches fds has them (others
    // raise not_supported_error naming the method). OS errors: std::system_error.
    // Up to n bytes; empty at EOF.
    coro<std::string> sock_recv(int fd, std::size_t n);
    // Reads into buf; the count (0 at EOF).
    coro<std::size_t> sock_recv_into(int fd, std::span<char> buf);
    // Sends all of data (copied into the coroutine).
    coro<void> sock_sendall(int fd, std::string data);
    // Connects fd to addr (EINPROGRESS waited for; the connect error raised).
    coro<void> sock_connect(int fd, socket_address addr);
    // Accepts a connection: the new fd (non-blocking, close-on-exec; the caller owns it) and the peer's address.
    coro<std::pair<int, socket_address>> sock_accept(int fd);
    // Sends one datagram to `to`; the bytes sent.
    coro<std::size_t> sock_sendto(int fd, std::string data, socket_address to);
    // Receives one datagram of at most n bytes and its sender.
    coro<std::pair<std::string, socket_address>> sock_recvfrom(int fd, std::size_t n);
    // Receives one datagram into buf (truncated to its size) and its sender: the byte count
    // and the address (asyncio's sock_recvfrom_into; pass buf.first(n) for its nbytes).
    coro<std::pair<std::size_t, socket_address>> sock_recvfrom_into(int fd, std::span<char> buf);
    // Whether this loop can watch fds (add_reader & co., sock_*).
    virtual bool watches_fds() const noexcept = 0;

    // --- networking (network.hpp): asyncio's create_connection & co. A loop whose backend has no
    // network half (the browser, a custom loop) raises not_supported_error from each, naming the
    // method and the loop. Every method runs on the loop thread.
    // Connects to host:port, trying each address getaddrinfo returns in order; all their errors
    // are reported if none connects. Completes with the transport and the factory's protocol
    // once connection_made has run.
    template <protocol_factory_of F>
    coro<transport_and_protocol<transport, protocol_of_t<F>>> create_connection(F factory, std::string host,
                                                                                std::uint16_t port,
                                                                                connection_options opts = {}) {
        static_assert(is_stream_protocol<protocol_of_t<F>>, "create_connection needs a protocol or buffered_protocol");
        auto r = co_await network_for("create_connection")
                     .create_connection(erase(std::move(factory)), std::move(host), port, std::move(opts));
        co_return typed<protocol_of_t<F>>(std::move(r));
    }
    // Wraps opts.sock, a stream socket the caller connected (asyncio's create_connection(sock=));
    // the transport owns it from then on. std::invalid_argument (the fd left alone) if it is
    // no stream socket, or if opts.sock is -1.
    template <protocol_factory_of F>
    coro<transport_and_protocol<transport, protocol_of_t<F>>> create_connection(F factory, connection_options opts) {
        return create_connection(std::move(factory), std::string(), 0, std::move(opts));
    }
    // Wraps a connection accepted outside the loop (asyncio's connect_accepted_socket): `fd`
    // is a connected stream socket (TCP or Unix, by its family), made non-blocking; the
    // transport owns it from then on. std::invalid_argument (the fd left alone) if it is no
    // stream socket.
    template <protocol_factory_of F>
    coro<transport_and_protocol<transport, protocol_of_t<F>>> connect_accepted_socket(F factory, int fd) {
        static_assert(is_stream_protocol<protocol_of_t<F>>, "connect_accepted_socket needs a stream protocol");
        auto r = co_await network_for("connect_accepted_socket").connect_accepted_socket(erase(std::move(factory)), fd);
        co_return typed<protocol_of_t<F>>(std::move(r));
    }
    // Listens on opts.sock, a stream socket the caller bound (asyncio's create_server(sock=));
    // the server owns it from then on and sockets() reports its address.
    template <protocol_factory_of F>
    coro<std::shared_ptr<server>> create_server(F factory, server_options opts) {
        return create_server(std::move(factory), std::vector<std::string>(), 0, std::move(opts));
    }
    // Listens on host:port (empty host: every interface; port 0: a free port, see sockets()).
    // With opts.sock, host must be empty and port 0 (std::invalid_argument otherwise).
    template <protocol_factory_of F>
    coro<std::shared_ptr<server>> create_server(F factory, std::string host, std::uint16_t port,
                                                server_options opts = {}) {
        std::vector<std::string> hosts;
        if (!host.empty()) hosts.push_back(std::move(host));
        return create_server(std::move(factory), std::move(hosts), port, std::move(opts));
    }
    // Listens on every address of every host named.
    template <protocol_factory_of F>
    coro<std::shared_ptr<server>> create_server(F factory, std::vector<std::string> hosts, std::uint16_t port,
                                                server_options opts = {}) {
        static_assert(is_stream_protocol<protocol_of_t<F>>, "create_server needs a protocol or buffered_protocol");
        co_return co_await network_for("create_server")
            .create_server(erase(std::move(factory)), std::move(hosts), port, std::move(opts));
    }
    // Connects to the Unix socket at `path` (a leading '\0': Linux's abstract namespace).
    template <protocol_factory_of F>
    coro<transport_and_protocol<transport, protocol_of_t<F>>> create_unix_connection(F factory, std::string path) {
        return create_unix_connection(std::move(factory), std::move(path), connection_options());
    }
    // With opts.sock (a connected AF_UNIX stream socket the transport adopts), path must be
    // empty; family and local_addr do not apply.
    template <protocol_factory_of F>
    coro<transport_and_protocol<transport, protocol_of_t<F>>> create_unix_connection(F factory, std::string path,
                                                                                     connection_options opts) {
        static_assert(is_stream_protocol<protocol_of_t<F>>, "create_unix_connection needs a stream protocol");
        auto r = co_await network_for("create_unix_connection")
                     .create_unix_connection(erase(std::move(factory)), std::move(path), std::move(opts));
        co_return typed<protocol_of_t<F>>(std::move(r));
    }
    // Wraps opts.sock, a connected AF_UNIX stream socket (asyncio's create_unix_connection(sock=)).
    template <protocol_factory_of F>
    coro<transport_and_protocol<transport, protocol_of_t<F>>> create_unix_connection(F factory,
                                                                                     connection_options opts) {
        return create_unix_connection(std::move(factory), std::string(), std::move(opts));
    }
    // Listens on the Unix socket `path`. A socket file already there (a stale one) is removed
    // first, as asyncio does; any other existing file is an error (EADDRINUSE).
    template <protocol_factory_of F>
    coro<std::shared_ptr<server>> create_unix_server(F factory, std::string path, server_options opts = {}) {
        static_assert(is_stream_protocol<protocol_of_t<F>>, "create_unix_server needs a stream protocol");
        co_return co_await network_for("create_unix_server")
            .create_unix_server(erase(std::move(factory)), std::move(path), std::move(opts));
    }
    // Listens on opts.sock, an AF_UNIX stream socket the caller bound (asyncio's
    // create_unix_server(sock=)); its socket file goes when the server closes, as above.
    template <protocol_factory_of F>
    coro<std::shared_ptr<server>> create_unix_server(F factory, server_options opts) {
        return create_unix_server(std::move(factory), std::string(), std::move(opts));
    }
    // A UDP endpoint bound to local_addr and/or connected to remote_addr, or over opts.sock,
    // a datagram socket the caller made (then nothing else may be set).
    template <protocol_factory_of F>
    coro<transport_and_protocol<datagram_transport, protocol_of_t<F>>> create_datagram_endpoint(F factory,
                                                                                                datagram_options opts) {
        static_assert(std::is_base_of_v<datagram_protocol, protocol_of_t<F>>,
                      "create_datagram_endpoint needs a datagram_protocol");
        auto r = co_await network_for("create_datagram_endpoint")
                     .create_datagram_endpoint(erase(std::move(factory)), std::move(opts));
        co_return typed<protocol_of_t<F>>(std::move(r));
    }
    // Wraps the read end of a pipe (or any readable stream fd); the transport owns the fd from then on.
    template <protocol_factory_of F>
    coro<transport_and_protocol<transport, protocol_of_t<F>>> connect_read_pipe(F factory, int fd) {
        static_assert(is_stream_protocol<protocol_of_t<F>>, "connect_read_pipe needs a stream protocol");
        auto r = co_await network_for("connect_read_pipe").connect_read_pipe(erase(std::move(factory)), fd);
        co_return typed<protocol_of_t<F>>(std::move(r));
    }
    // Wraps the write end of a pipe; the transport owns the fd from then on.
    template <protocol_factory_of F>
    coro<transport_and_protocol<transport, protocol_of_t<F>>> connect_write_pipe(F factory, int fd) {
        static_assert(is_stream_protocol<protocol_of_t<F>>, "connect_write_pipe needs a stream protocol");
        auto r = co_await network_for("connect_write_pipe").connect_write_pipe(erase(std::move(factory)), fd);
        co_return typed<protocol_of_t<F>>(std::move(r));
    }
    // --- DNS, off the loop thread; cancelling the await abandons the lookup (nothing completes later).
    // The addresses of host:service; std::system_error naming the host if it does not resolve.
    coro<std::vector<address_info>> getaddrinfo(std::string host, std::string service, address_hints hints = {}) {
        co_return co_await network_for("getaddrinfo").getaddrinfo(std::move(host), std::move(service), hints);
    }
    // (host, service) names of addr.
    coro<std::pair<std::string, std::string>> getnameinfo(socket_address addr, int flags = 0) {
        co_return co_await network_for("getnameinfo").getnameinfo(std::move(addr), flags);
    }
    // --- Unix signals: f(a...) runs as a loop callback after `sig` arrives (never inside the
    // signal handler); replaces an earlier handler of sig. std::invalid_argument for an invalid
    // number, std::runtime_error for SIGKILL/SIGSTOP or a signal that cannot be caught.
    template <class F, class... A>
    void add_signal_handler(int sig, F&& f, A&&... a) {
        network_for("add_signal_handler").add_signal_handler(sig, bind(std::forward<F>(f), std::forward<A>(a)...));
    }
    // Stops handling sig and restores its default disposition; whether a handler was set.
    bool remove_signal_handler(int sig) { return network_for("remove_signal_handler").remove_signal_handler(sig); }

    // --- subprocesses (asyncio's subprocess_exec / subprocess_shell; duet/subprocess.hpp has
    // the high-level create_subprocess_*). Forwarded to the spawner the target library
    // registers (native/); a loop without a network half, or a program without a spawner,
    // raises not_supported_error naming the method and the loop. Completes with the transport
    // and the factory's protocol once connection_made has run; std::system_error naming the
    // program if it cannot be started; std::runtime_error (no process started) if the child
    // watcher is not active.
    // Runs `program` (a path; no PATH search is done for one containing '/') with args.
    // (Overloads, not default arguments: g++ 12 miscompiles a defaulted `= {}` argument
    // evaluated inside a co_await.)
    template <protocol_factory_of F>
    coro<transport_and_protocol<subprocess_transport, protocol_of_t<F>>> subprocess_exec(F factory,
                                                                                         std::string program) {
        return subprocess_exec(std::move(factory), std::move(program), std::vector<std::string>(),
                               subprocess_options());
    }
    template <protocol_factory_of F>
    coro<transport_and_protocol<subprocess_transport, protocol_of_t<F>>> subprocess_exec(
        F factory, std::string program, std::vector<std::string> args) {
        return subprocess_exec(std::move(factory), std::move(program), std::move(args), subprocess_options());
    }
    template <protocol_factory_of F>
    coro<transport_and_protocol<subprocess_transport, protocol_of_t<F>>> subprocess_exec(F factory, std::string program,
                                                                                         std::vector<std::string> args,
                                                                                         subprocess_options opts) {
        static_assert(std::is_base_of_v<subprocess_protocol, protocol_of_t<F>>,
                      "subprocess_exec needs a subprocess_protocol");
        std::vector<std::string> argv;
        argv.reserve(args.size() + 1);
        argv.push_back(std::move(program));
        for (auto& a : args) argv.push_back(std::move(a));
        auto r = co_await spawn_for("subprocess_exec")(*this, erase_subprocess(std::move(factory)), std::move(argv),
                                                       std::move(opts), "subprocess_exec");
        co_return typed<protocol_of_t<F>>(std::move(r));
    }
    // Runs `cmd` through /bin/sh -c.
    template <protocol_factory_of F>
    coro<transport_and_protocol<subprocess_transport, protocol_of_t<F>>> subprocess_shell(F factory, std::string cmd) {
        return subprocess_shell(std::move(factory), std::move(cmd), subprocess_options());
    }
    template <protocol_factory_of F>
    coro<transport_and_protocol<subprocess_transport, protocol_of_t<F>>> subprocess_shell(F factory, std::string cmd,
                                                                                          subprocess_options opts) {
        static_assert(std::is_base_of_v<subprocess_protocol, protocol_of_t<F>>,
                      "subprocess_shell needs a subprocess_protocol");
        std::vector<std::string> argv{"/bin/sh", "-c", std::move(cmd)};
        auto r = co_await spawn_for("subprocess_shell")(*this, erase_subprocess(std::move(factory)), std::move(argv),
                                                        std::move(opts), "subprocess_shell");
        co_return typed<protocol_of_t<F>>(std::move(r));
    }

    // --- futures and tasks
    // A pending future bound to this loop; loop thread; never raises. Allowed on a closed loop, as in asyncio
    // (the future just never completes by it).
    template <class T = void>
    future<T> create_future() {
        auto* st = new detail::future_state<T>(&base());
        return future<T>(detail::intrusive_ptr<detail::future_core>::adopt(st));
    }
    // Wraps c in a task scheduled by the task factory; loop thread; std::runtime_error if closed,
    // std::invalid_argument for an empty coroutine. The task is named `name` (else "Task-N") and
    // runs in a copy of the current context, or in `ctx` itself (the values it sets stay in ctx).
    // `site` records where it was created, for debug mode: leave it defaulted.
    template <coroutine_arg C>
    task<coroutine_result_t<C>> create_task(C&& c, std::string_view name = {}, detail::context_choice ctx = {},
                                            call_site site = {}) {
        return make_task(detail::to_coro(std::forward<C>(c)), name, ctx.slot(), site);
    }
    // Runs f(a...) on a stack of its own as a task (a fiber; fibers.hpp, which defines
    // these); the optional fiber_options first sets its stack and name. not_supported_error
    // where the target has no fibers (wasm without ASYNCIFY).
    template <class F, class... A>
    requires(!std::is_same_v<std::remove_cvref_t<F>, fiber_options>) auto spawn_fiber(F&& f, A&&... a);
    template <class F, class... A>
    auto spawn_fiber(fiber_options o, F&& f, A&&... a);
    // Sets (null: removes) the factory create_task consults; loop thread; never raises.
    virtual void set_task_factory(task_factory f) = 0;
    // The factory set by set_task_factory, or an empty one; never raises.
    virtual const task_factory& get_task_factory() const noexcept = 0;

    // --- executors (see executor.hpp for run_in_executor and to_thread)
    // Replaces the executor used when run_in_executor is given none; loop thread; std::invalid_argument if null.
    virtual void set_default_executor(std::shared_ptr<executor> ex) = 0;
    // The default executor, created on first use (a thread_pool_executor); loop thread; std::runtime_error if
    // closed or once shutdown_default_executor() was called, not_supported_error without threads.
    virtual executor& default_executor() = 0;
    // Waits until the default executor's jobs have run and its threads ended; loop thread, not from a job.
    // Afterwards the loop makes no new default executor (asyncio's "Executor shutdown has been called").
    // With a timeout (seconds of real time, asyncio 3.12's `timeout`): if the threads have not ended by
    // then, reports "The executor did not finishing joining its threads within <timeout> seconds." to the
    // exception handler (asyncio's RuntimeWarning), tells the executor to stop without waiting, and
    // returns; the loop's destructor waits for what is left.
    virtual void shutdown_default_executor(std::optional<double> timeout = std::nullopt) = 0;

    // --- errors
    // Sets (null: restores the default) what call_exception_handler calls; loop thread; never raises.
    virtual void set_exception_handler(exception_handler h) = 0;
    // The handler set by set_exception_handler, or an empty one; never raises.
    virtual const exception_handler& get_exception_handler() const noexcept = 0;
    // Prints the context's message and exception to stderr; any time.
    virtual void default_exception_handler(const exception_context& ctx) = 0;
    // Reports an error the loop cannot raise to anyone: the handler, else the default one; never raises.
    virtual void call_exception_handler(const exception_context& ctx) noexcept = 0;

    // --- debug
    // Whether debug mode is on; never raises.
    virtual bool get_debug() const noexcept = 0;
    // Switches debug mode (base_event_loop::set_debug says what it reports); loop thread.
    virtual void set_debug(bool on) = 0;

    // The shared implementation every duet loop derives from.
    virtual base_event_loop& base() noexcept = 0;

protected:
    friend class runner;  // runs its coroutines in its own context (runners.hpp)

    // The scheduling primitives adopt a node whose callable was built in place (one
    // construction, no move of the callable); they release it if they throw.
    virtual handle call_soon_node(detail::handle_node* n) = 0;
    virtual handle call_soon_threadsafe_cb(callback cb) = 0;
    virtual timer_handle call_at_node(double when, detail::handle_node* n) = 0;
    virtual void run_until_done(basic_future f) = 0;
    template <class T>
    T run_until_complete_impl(future<T> f, bool owned) {
        run_until_done(f);
        return detail::result_from(f, owned);
    }
    // `which`: 1 reader, 2 writer (fd_readable / fd_writable in base_events.hpp).
    virtual void add_fd_callback(int fd, unsigned which, callback cb) = 0;
    virtual void start_task(detail::task_core* t) = 0;
    virtual void check_open_for(const char* what) const = 0;
    // The backend's network half, or not_supported_error naming `method` and the loop.
    virtual loop_network& network_for(const char* method) = 0;
    // not_supported_error naming `method` (a sock_* method) and the loop, unless this loop
    // watches fds.
    virtual void require_fd_watching(const char* method) const = 0;
    // std::runtime_error, as run_forever would raise it, if the loop cannot run now (and
    // what check_can_block raises).
    void check_can_run() const;
    // Raises what run_forever would if this loop cannot block the thread at all (a wasm
    // build without ASYNCIFY); nothing by default.
    virtual void check_can_block() const {}
    // The registered subprocess spawner; not_supported_error naming `method` and the loop
    // when the loop has no network half (no pipes) or no spawner is registered.
    subprocess_spawner spawn_for(const char* method);

private:
    template <class P>
    static constexpr bool is_stream_protocol =
        std::is_base_of_v<protocol, P> || std::is_base_of_v<buffered_protocol, P>;
    template <class F>
    static protocol_factory erase(F f) {
        return [f = std::move(f)]() mutable -> std::shared_ptr<base_protocol> { return f(); };
    }
    // The network layer hands back the protocol as its base class: the factory's own type again.
    template <class P, class T, class B>
    static transport_and_protocol<T, P> typed(std::pair<std::shared_ptr<T>, std::shared_ptr<B>> r) {
        return {std::move(r.first), std::static_pointer_cast<P>(std::move(r.second))};
    }
    template <class F>
    static subprocess_protocol_factory erase_subprocess(F f) {
        return [f = std::move(f)]() mutable -> std::shared_ptr<subprocess_protocol> { return f(); };
    }
    template <class T>
    task<T> make_task(coro<T> c, std::string_view name, detail::context_slot ctx, call_site site) {
        check_open_for("create_task");
        if (!c) throw std::invalid_argument("create_task: the coroutine is empty (moved from or already awaited)");
        auto* st = new detail::task_state<T>(&base(), c.release());
        task<T> t(st);
        if (!name.empty()) st->set_name(std::string(name));
        if (ctx) st->ctx_ = std::move(ctx);  // usually none: the task gets its own lazily
        if (detail::debug_tracking())
            detail::record_site(static_cast<detail::future_core*>(st), {"create_task", site.file, site.line});
        start_task(st);
        return t;
    }
    // The callable a handle stores: f itself, or f with its arguments bound.
    template <class F, class... A>
    static decltype(auto) bind(F&& f, A&&... a) {
        if constexpr (sizeof...(A) == 0)
            return std::forward<F>(f);
        else
            return [f = std::forward<F>(f), ... a = std::forward<A>(a)]() mutable { std::invoke(f, a...); };
    }
};

// The loop running in this thread; std::runtime_error("no running event loop") if none.
abstract_event_loop& get_running_loop();
// The loop running in this thread, or null.
abstract_event_loop* running_loop() noexcept;

// asyncio.create_task: a task on the running loop (see abstract_event_loop::create_task).
template <coroutine_arg C>
task<coroutine_result_t<C>> create_task(C&& c, std::string_view name = {}, detail::context_choice ctx = {},
                                        call_site site = {}) {
    return get_running_loop().create_task(std::forward<C>(c), name, ctx, site);
}

// A task factory that runs each new task's first step at once, inside create_task, when
// the loop is running (asyncio.eager_task_factory): a task that finishes without
// suspending never goes through the ready queue.
inline task_start eager_task_factory(abstract_event_loop&, basic_task&) {
    return task_start::eager;
}

// A new loop from the current policy: by default of the target's backend (uv natively,
// browser under Emscripten). See policies.hpp.
std::unique_ptr<abstract_event_loop> new_event_loop();

}  // namespace duet
