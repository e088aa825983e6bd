#include "funnel/admin/exposition.hpp"
#include "funnel/admin/routes.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace funnel {
namespace {

class AdminRoutes : public ::testing::Test {
protected:
    AdminRoutes() {
        routes_.metrics = [] {
            return std::string("funnel_x 1\n");
        };
        routes_.not_ready = [this] {
            return why_not_;
        };
    }
    admin_routes routes_;
    std::optional<std::string> why_not_;
};

TEST_F(AdminRoutes, MetricsIsTheExpositionWithItsContentType) {
    const auto r = route("GET", "/metrics", routes_);
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.content_type, exposition_content_type);
    EXPECT_EQ(r.content_type, "text/plain; version=0.0.4");
    EXPECT_EQ(r.body, "funnel_x 1\n");
    EXPECT_EQ(route("GET", "/metrics?name[]=x", routes_).status, 200u); // a query is ignored
}

TEST_F(AdminRoutes, HealthzAnswersWhateverReadinessSays) {
    why_not_ = "draining";
    EXPECT_EQ(route("GET", "/healthz", routes_).status, 200u);
}

TEST_F(AdminRoutes, ReadyzIs503WithTheReasonOnOneLine) {
    EXPECT_EQ(route("GET", "/readyz", routes_).status, 200u);
    why_not_ = "no target connection is up";
    const auto r = route("GET", "/readyz", routes_);
    EXPECT_EQ(r.status, 503u);
    EXPECT_EQ(r.body, "no target connection is up\n");
}

TEST_F(AdminRoutes, UnknownPathIs404AndOtherMethodsAre405) {
    EXPECT_EQ(route("GET", "/", routes_).status, 404u);
    EXPECT_EQ(route("GET", "/metrics/", routes_).status, 404u);
    EXPECT_EQ(route("POST", "/nothing", routes_).status, 404u);
    for (const char* method : {"POST", "PUT", "DELETE", "HEAD", "get"})
        for (const char* path : {"/metrics", "/healthz", "/readyz"})
            EXPECT_EQ(route(method, path, routes_).status, 405u) << method << ' ' << path;
}

TEST(AdminReadiness, MessageModeNeedsALinkUpOrRoomInTheBudget) {
    readiness_input in;
    in.mode = relay_mode::message;
    in.listening = true;
    in.buffer_has_room = true;
    EXPECT_EQ(not_ready_reason(in), std::nullopt); // target down, but the budget holds data
    in.buffer_has_room = false;
    ASSERT_TRUE(not_ready_reason(in).has_value());
    EXPECT_EQ(*not_ready_reason(in), "no target connection is up and --buffer-limit is full");
    in.upstream_connections_up = 1;
    EXPECT_EQ(not_ready_reason(in), std::nullopt);
    in.last_connect_failed = true; // another link failing does not matter while one is up
    EXPECT_EQ(not_ready_reason(in), std::nullopt);
}

TEST(AdminReadiness, StreamModeNeedsTheLastConnectToHaveWorked) {
    readiness_input in;
    in.mode = relay_mode::stream;
    in.listening = true;
    EXPECT_EQ(not_ready_reason(in), std::nullopt); // nothing tried yet
    in.last_connect_failed = true;
    in.buffer_has_room = true; // stream mode cannot hold data for a target it cannot reach
    EXPECT_EQ(not_ready_reason(in), "the last connection attempt to the target failed");
}

TEST(AdminReadiness, DrainingOrNotListeningIsNeverReady) {
    readiness_input in;
    in.mode = relay_mode::message;
    in.upstream_connections_up = 4;
    in.buffer_has_room = true;
    EXPECT_EQ(not_ready_reason(in), "not listening");
    in.listening = true;
    in.draining = true;
    EXPECT_EQ(not_ready_reason(in), "draining: not accepting clients");
}

} // namespace
} // namespace funnel
