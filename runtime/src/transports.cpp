#include <stdexcept>
#include <string>

#include <duet/events.hpp>
#include <duet/transports.hpp>

namespace duet {

void write_flow_control::set_limits(std::optional<std::size_t> high, std::optional<std::size_t> low) {
    std::size_t h = high ? *high : (low ? 4 * *low : default_high);
    std::size_t l = low ? *low : h / 4;
    if (h < l)
        throw std::invalid_argument("set_write_buffer_limits: high (" + std::to_string(h) + ") must be >= low (" +
                                    std::to_string(l) + ") must be >= 0");
    high_ = h;
    low_ = l;
}

void write_flow_control::update(std::size_t buffered, base_protocol& p, abstract_event_loop& loop,
                                const base_transport& t) {
    (void)t;
    const char* which = nullptr;
    try {
        if (!paused_ && buffered > high_) {
            paused_ = true;
            which = "protocol.pause_writing() failed";
            p.pause_writing();
        } else if (paused_ && buffered <= low_) {
            paused_ = false;
            which = "protocol.resume_writing() failed";
            p.resume_writing();
        }
    } catch (...) {
        exception_context ctx;
        ctx.message = which;
        ctx.exception = std::current_exception();
        loop.call_exception_handler(ctx);
    }
}

}  // namespace duet
