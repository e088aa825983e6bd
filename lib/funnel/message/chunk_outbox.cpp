#include "funnel/message/chunk_outbox.hpp"

#include "funnel/message/message_session.hpp"
#include "funnel/metrics/counted_post.hpp"

#include <boost/asio/post.hpp>

namespace funnel {

void chunk_outbox::push(std::shared_ptr<message_session> session, chunk c) {
    if (!flush_posted_) {
        flush_posted_ = true;
        net::post(io_, [this] {
            flush_posted_ = false;
            flush();
        });
    }
    items_.emplace_back(std::move(session), std::move(c));
}

void chunk_outbox::flush() {
    if (items_.empty())
        return;
    post_counted(strand_, queue_depth_, [items = std::exchange(items_, {})]() mutable {
        for (auto& [session, c] : items)
            session->frame(std::make_shared<const chunk>(std::move(c)));
    });
}

} // namespace funnel
