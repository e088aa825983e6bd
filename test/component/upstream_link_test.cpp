// upstream_link against a real target on 127.0.0.1: delivery in order, a target that is down at
// first, and a target that dies with data in flight and comes back.

#include "funnel/buffer/buffer_pool.hpp"
#include "funnel/log/logging.hpp"
#include "funnel/message/upstream_link.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <sys/ioctl.h>

#include "support/log_capture.hpp"
#include "support/loopback.hpp"

namespace funnel::test {
namespace {

std::string message_text(std::size_t seq) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "msg-%06zu\n", seq);
    return buf;
}

// The sequence numbers of the whole lines in `stream`; a cut last line is ignored.
std::vector<std::size_t> sequences(const std::string& stream) {
    std::vector<std::size_t> out;
    std::size_t start = 0;
    for (std::size_t nl = stream.find('\n'); nl != std::string::npos;
         start = nl + 1, nl = stream.find('\n', start)) {
        const std::string line = stream.substr(start, nl - start);
        EXPECT_EQ(line.rfind("msg-", 0), 0u) << "not a whole message: '" << line << "'";
        out.push_back(std::stoul(line.substr(4)));
    }
    return out;
}

class link_fixture : public ::testing::Test {
protected:
    void start_link(std::uint16_t port) {
        cfg_.target = host_port{"127.0.0.1", port};
        cfg_.connect_timeout = config::seconds(2);
        cfg_.reconnect_backoff_min = std::chrono::milliseconds(5);
        cfg_.reconnect_backoff_max = std::chrono::milliseconds(50);
        link_ = std::make_shared<upstream_link>(net::make_strand(threads_), cfg_, 0, stats_,
                                                logging_.logger(), warnings_);
        net::post(link_->get_executor(), [l = link_] { l->start(); });
    }
    // Messages [first, first + count) in one batch, in one chunk.
    void enqueue(std::size_t first, std::size_t count) {
        chunk c = pool_.try_acquire();
        ASSERT_TRUE(c);
        std::string text;
        for (std::size_t i = first; i < first + count; ++i)
            text += message_text(i);
        ASSERT_LE(text.size(), c.capacity());
        std::memcpy(c.writable().data(), text.data(), text.size());
        c.set_size(text.size());
        message_batch b;
        auto block = std::make_shared<const chunk>(std::move(c));
        b.add(block, static_cast<const std::byte*>(block->data().data()), text.size());
        b.messages = count;
        net::post(link_->get_executor(),
                  [l = link_, b = std::move(b)]() mutable { l->enqueue(std::move(b)); });
    }
    void TearDown() override {
        if (link_)
            net::post(link_->get_executor(), [l = link_] { l->stop(); });
        threads_.join();
        link_.reset();
        EXPECT_EQ(pool_.bytes_held(), 0u);
    }

    config cfg_;
    metrics stats_;
    buffer_pool pool_{config::min_read_size, 64 << 20};
    std::shared_ptr<log_capture> capture_ = std::make_shared<log_capture>();
    log_service logging_{log_level::debug, log_format::text, capture_};
    rate_limiter warnings_{std::chrono::seconds(1), 100};
    net::thread_pool threads_{2};
    std::shared_ptr<upstream_link> link_;
};

TEST_F(link_fixture, DeliversBatchesInOrderAndReleasesThemOnceAcknowledged) {
    target_server target;
    start_link(target.endpoint().port());
    std::string expected;
    for (std::size_t b = 0; b < 50; ++b) {
        enqueue(b * 100, 100);
        for (std::size_t i = 0; i < 100; ++i)
            expected += message_text(b * 100 + i);
    }
    conn upstream = target.accept();
    EXPECT_EQ(upstream.read_exact(expected.size()), expected);
    EXPECT_TRUE(poll_until([&] { return metrics::get(stats_.messages_out) == 5000; }));
    EXPECT_TRUE(poll_until([&] { return pool_.bytes_held() == 0; }));
}

TEST_F(link_fixture, HoldsMessagesWhileTheTargetIsDownThenDelivers) {
    std::uint16_t port = 0;
    {
        target_server probe;
        port = probe.endpoint().port();
    }
    start_link(port);
    for (std::size_t b = 0; b < 10; ++b)
        enqueue(b * 100, 100);
    ASSERT_TRUE(poll_until([&] { return capture_->contains("cannot connect"); }));
    target_server target(128, 0, port);
    conn upstream = target.accept();
    const auto got = sequences(upstream.read_exact(1000 * message_text(0).size()));
    ASSERT_EQ(got.size(), 1000u);
    for (std::size_t i = 0; i < got.size(); ++i)
        EXPECT_EQ(got[i], i);
}

TEST_F(link_fixture, TargetDyingWithDataInFlightLosesOnlyWhatItsKernelHadAcknowledged) {
    constexpr std::size_t batches = 200;
    constexpr std::size_t per_batch = 200;
    constexpr std::size_t total = batches * per_batch;
    constexpr int small_buffer = 4096;
    const std::size_t message_size = message_text(0).size();

    std::uint16_t port = 0;
    auto first = std::make_unique<target_server>(128, small_buffer);
    port = first->endpoint().port();
    start_link(port);
    for (std::size_t b = 0; b < batches; ++b)
        enqueue(b * per_batch, per_batch);

    conn dying = first->accept();
    first->close(); // so that the reconnect finds the second target, not this one
    const std::string before = dying.read_exact(50000);
    // The link's send queue now holds written but unacknowledged messages (the small receive
    // buffer is full). Whatever sits unread in our receive buffer was acknowledged by our
    // kernel: a reset throws it away, and no sender can know. That is the bound on the loss.
    ASSERT_TRUE(poll_until_steady([&] { return metrics::get(stats_.bytes_to_targets); }, 200ms));
    int unread = 0;
    ASSERT_EQ(::ioctl(dying.socket().native_handle(), FIONREAD, &unread), 0);
    dying.reset();

    target_server second(128, 0, port);
    conn upstream = second.accept();
    std::string after;
    while (after.size() < message_size ||
           after.compare(after.size() - message_size, message_size, message_text(total - 1)) != 0)
        after += upstream.read_exact(message_size);

    const auto got_before = sequences(before);
    const auto got_after = sequences(after);
    std::map<std::size_t, int> seen;
    for (auto s : got_before)
        ++seen[s];
    for (auto s : got_after)
        ++seen[s];
    std::size_t missing = 0;
    for (std::size_t i = 0; i < total; ++i)
        missing += seen.count(i) == 0 ? 1u : 0u;
    // Lost can only be what directly followed the last message read before the reset; the
    // resend starts at a message boundary and keeps the order.
    ASSERT_FALSE(got_after.empty());
    const std::size_t last_before = got_before.empty() ? 0 : got_before.back();
    for (std::size_t i = 0; i < total; ++i)
        if (seen.count(i) == 0) {
            EXPECT_GT(i, last_before) << "message " << i << " lost";
            EXPECT_LT(i, got_after.front()) << "message " << i << " lost";
        }
    for (std::size_t i = 1; i < got_after.size(); ++i)
        EXPECT_EQ(got_after[i], got_after[i - 1] + 1) << "order broken at " << i;
    EXPECT_LE(missing * message_size, static_cast<std::size_t>(unread) + 2 * small_buffer)
        << missing << " messages lost, " << unread << " bytes were unread at the reset";
    EXPECT_GT(metrics::get(stats_.messages_resent), 0u);
    EXPECT_TRUE(poll_until([&] { return metrics::get(stats_.messages_out) >= total - missing; }));
}

} // namespace
} // namespace funnel::test
