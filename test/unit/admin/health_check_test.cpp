#include "funnel/admin/health_check.hpp"

#include <gtest/gtest.h>

namespace funnel {
namespace {

TEST(AdminHealthCheck, WildcardAddressesAreProbedOnTheLoopbackOfTheirFamily) {
    EXPECT_EQ(probe_address({"0.0.0.0", 9100}), (host_port{"127.0.0.1", 9100}));
    EXPECT_EQ(probe_address({"::", 9100}), (host_port{"::1", 9100}));
    EXPECT_EQ(probe_address({"0:0::0", 9100}), (host_port{"::1", 9100}));
    // Anything else is probed where it is.
    EXPECT_EQ(probe_address({"10.1.2.3", 9100}), (host_port{"10.1.2.3", 9100}));
    EXPECT_EQ(probe_address({"::1", 9100}), (host_port{"::1", 9100}));
    EXPECT_EQ(probe_address({"funnel.internal", 9100}), (host_port{"funnel.internal", 9100}));
}

} // namespace
} // namespace funnel
