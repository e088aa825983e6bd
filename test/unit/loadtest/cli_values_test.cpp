#include "funnel/loadtest/cli_values.hpp"
#include "funnel/loadtest/json_writer.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <string>

namespace funnel::loadtest {
namespace {

std::string error_of(void (*f)()) {
    try {
        f();
    } catch (const usage_error& e) {
        return e.what();
    }
    return "";
}

TEST(ToolsCliValues, Sizes) {
    EXPECT_EQ(parse_size("100", "--bytes"), 100U);
    EXPECT_EQ(parse_size("64KiB", "--bytes"), 65536U);
    EXPECT_EQ(parse_size("2 mib", "--bytes"), 2U << 20);
    EXPECT_EQ(parse_size("1GiB", "--bytes"), 1U << 30);
    EXPECT_EQ(parse_size("7B", "--bytes"), 7U);
    for (const char* bad : {"", "-1", "1.5MiB", "12XB", "KiB", "99999999999999999999"})
        EXPECT_THROW(parse_size(bad, "--bytes"), usage_error) << bad;
    const std::string e = error_of([] { parse_size("12XB", "--bytes"); });
    EXPECT_NE(e.find("--bytes"), std::string::npos) << e;
    EXPECT_NE(e.find("'12XB'"), std::string::npos) << e;
}

TEST(ToolsCliValues, Seconds) {
    EXPECT_DOUBLE_EQ(parse_seconds("1.5", "--timeout"), 1.5);
    EXPECT_DOUBLE_EQ(parse_seconds(".25", "--timeout"), 0.25);
    EXPECT_DOUBLE_EQ(parse_seconds("250ms", "--timeout"), 0.25);
    EXPECT_DOUBLE_EQ(parse_seconds("3s", "--timeout"), 3.0);
    for (const char* bad : {"", "-1", "1.2.3", "5m", "1e3", "100000000"})
        EXPECT_THROW(parse_seconds(bad, "--timeout"), usage_error) << bad;
}

TEST(ToolsCliValues, CountsAndNumbers) {
    EXPECT_EQ(parse_count("42", "--n"), 42U);
    EXPECT_THROW(parse_count("4.2", "--n"), usage_error);
    EXPECT_THROW(parse_count("x", "--n"), usage_error);
    EXPECT_DOUBLE_EQ(parse_number("2500000", "--rate"), 2500000.0);
    EXPECT_DOUBLE_EQ(parse_number("0.5", "--rate"), 0.5);
    EXPECT_THROW(parse_number("-3", "--rate"), usage_error);
}

TEST(ToolsCliValues, HostPort) {
    const auto a = parse_host_port("127.0.0.1:9000", "--target", false);
    EXPECT_EQ(a.host, "127.0.0.1");
    EXPECT_EQ(a.port, 9000);
    const auto b = parse_host_port("[::1]:0", "--listen", true);
    EXPECT_EQ(b.host, "::1");
    EXPECT_EQ(b.port, 0);
    EXPECT_EQ(to_string(b), "[::1]:0");
    EXPECT_EQ(parse_host_port("localhost:80", "--target", false).host, "localhost");
    for (const char* bad : {"", "host", ":80", "host:", "host:70000", "::1:80", "[::1]80"})
        EXPECT_THROW(parse_host_port(bad, "--target", true), usage_error) << bad;
    EXPECT_THROW(parse_host_port("host:0", "--target", false), usage_error);
}

TEST(ToolsJsonWriter, WritesOneFlatLine) {
    json_object inner;
    inner.real("p50", 12.25, 1).real("max", 3.0);
    json_object j;
    j.text("tool", "x\"y\\z\n")
        .number("n", 18446744073709551615ULL)
        .real("r", 0.5)
        .real("nan", std::numeric_limits<double>::quiet_NaN())
        .object("lat", inner);
    EXPECT_EQ(j.str(), R"({"tool":"x\"y\\z\n","n":18446744073709551615,"r":0.5,"nan":0,)"
                       R"("lat":{"p50":12.2,"max":3}})");
}

} // namespace
} // namespace funnel::loadtest
