#include "funnel/admin/exposition.hpp"

#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace funnel {
namespace {

// The exposition as Prometheus reads it: HELP and TYPE per family, and samples by their full
// name with labels ("funnel_x_total{reason=\"a\"}").
struct parsed_exposition {
    std::map<std::string, std::string> help;
    std::map<std::string, std::string> type;
    std::map<std::string, std::string> samples;
    std::vector<std::string> order; // sample names as they came
};

parsed_exposition parse(const std::string& text) {
    parsed_exposition out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        EXPECT_FALSE(line.empty()) << "an empty line in the exposition";
        if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
            const std::string rest = line.substr(7);
            const auto space = rest.find(' ');
            EXPECT_NE(space, std::string::npos) << line;
            auto& into = line[2] == 'H' ? out.help : out.type;
            EXPECT_FALSE(into.contains(rest.substr(0, space))) << "repeated: " << line;
            into[rest.substr(0, space)] = rest.substr(space + 1);
            continue;
        }
        const auto space = line.rfind(' ');
        EXPECT_NE(space, std::string::npos) << line;
        out.samples[line.substr(0, space)] = line.substr(space + 1);
        out.order.push_back(line.substr(0, space));
    }
    EXPECT_TRUE(text.ends_with('\n'));
    return out;
}

class Exposition : public ::testing::Test {
protected:
    std::string render() {
        return render_exposition(
            {stats_, 3 * 65536, 65536, 64 << 20, 1 << 30, "1.2.3", 1700000000.5});
    }
    metrics stats_;
};

TEST_F(Exposition, EveryFixedNameHasHelpTypeAndSample) {
    const auto e = parse(render());
    const std::map<std::string, std::string> families{
        {"funnel_connections_accepted_total", "counter"},
        {"funnel_connections_refused_total", "counter"},
        {"funnel_connections_open", "gauge"},
        {"funnel_bytes_received_total", "counter"},
        {"funnel_bytes_sent_total", "counter"},
        {"funnel_messages_received_total", "counter"},
        {"funnel_messages_sent_total", "counter"},
        {"funnel_messages_dropped_total", "counter"},
        {"funnel_messages_resent_total", "counter"},
        {"funnel_upstream_reconnects_total", "counter"},
        {"funnel_upstream_connections_up", "gauge"},
        {"funnel_buffered_bytes", "gauge"},
        {"funnel_forward_latency_seconds", "histogram"},
        {"funnel_write_batch_bytes", "histogram"},
        {"funnel_reply_bytes_received_total", "counter"},
        {"funnel_reply_bytes_sent_total", "counter"},
        {"funnel_upstream_connect_failures_total", "counter"},
        {"funnel_idle_timeouts_total", "counter"},
        {"funnel_connection_resets_total", "counter"},
        {"funnel_accept_errors_total", "counter"},
        {"funnel_read_pauses_total", "counter"},
        {"funnel_client_pauses_total", "counter"},
        {"funnel_client_buffered_bytes_peak", "gauge"},
        {"funnel_accept_pauses_total", "counter"},
        {"funnel_buffer_limit_bytes", "gauge"},
        {"funnel_buffered_reply_bytes", "gauge"},
        {"funnel_worker_queue_depth", "gauge"},
        {"funnel_upstream_last_connect_failed", "gauge"},
        {"funnel_spool_bytes", "gauge"},
        {"funnel_spool_limit_bytes", "gauge"},
        {"funnel_spool_records_written_total", "counter"},
        {"funnel_spool_messages_written_total", "counter"},
        {"funnel_spool_records_replayed_total", "counter"},
        {"funnel_spool_messages_replayed_total", "counter"},
        {"funnel_spool_damaged_bytes_total", "counter"},
        {"funnel_spool_write_errors_total", "counter"},
        {"funnel_build_info", "gauge"},
        {"process_start_time_seconds", "gauge"},
    };
    for (const auto& [name, type] : families) {
        SCOPED_TRACE(name);
        EXPECT_EQ(e.type.count(name), 1u);
        EXPECT_EQ(e.type.count(name) ? e.type.at(name) : "", type);
        EXPECT_FALSE(e.help.count(name) ? e.help.at(name).empty() : true);
    }
    // Nothing exported without its HELP and TYPE, and no family beyond the list above.
    EXPECT_EQ(e.type.size(), families.size());
    for (const auto& sample : e.order) {
        std::string family = sample.substr(0, sample.find('{'));
        for (const char* suffix : {"_bucket", "_sum", "_count"})
            if (!e.type.contains(family) && family.ends_with(suffix))
                family.resize(family.size() - std::string_view(suffix).size());
        EXPECT_TRUE(e.type.contains(family)) << sample;
    }
}

TEST_F(Exposition, CountersShowTheirValues) {
    metrics::add(stats_.connections_accepted, 12);
    metrics::add(stats_.connections_active, 3);
    metrics::add(stats_.bytes_from_clients, 1000);
    metrics::add(stats_.bytes_to_targets, 990);
    metrics::add(stats_.messages_in, 40);
    metrics::add(stats_.messages_out, 38);
    metrics::add(stats_.messages_resent, 2);
    metrics::add(stats_.upstream_reconnects, 1);
    metrics::add(stats_.upstream_connections_up, 4);
    metrics::add(stats_.worker_queue_depth, 5);
    metrics::add(stats_.spool_bytes, 4096);
    metrics::add(stats_.spool_records_written, 6);
    metrics::add(stats_.spool_messages_written, 60);
    metrics::add(stats_.spool_records_replayed, 5);
    metrics::add(stats_.spool_messages_replayed, 50);
    metrics::add(stats_.client_pauses, 7);
    metrics::raise(stats_.client_buffer_high_water, 131072);
    metrics::raise(stats_.client_buffer_high_water, 65536); // a peak only rises
    const auto e = parse(render());
    EXPECT_EQ(e.samples.at("funnel_connections_accepted_total"), "12");
    EXPECT_EQ(e.samples.at("funnel_connections_open"), "3");
    EXPECT_EQ(e.samples.at("funnel_bytes_received_total"), "1000");
    EXPECT_EQ(e.samples.at("funnel_bytes_sent_total"), "990");
    EXPECT_EQ(e.samples.at("funnel_messages_received_total"), "40");
    EXPECT_EQ(e.samples.at("funnel_messages_sent_total"), "38");
    EXPECT_EQ(e.samples.at("funnel_messages_resent_total"), "2");
    EXPECT_EQ(e.samples.at("funnel_upstream_reconnects_total"), "1");
    EXPECT_EQ(e.samples.at("funnel_upstream_connections_up"), "4");
    EXPECT_EQ(e.samples.at("funnel_worker_queue_depth"), "5");
    EXPECT_EQ(e.samples.at("funnel_client_pauses_total"), "7");
    EXPECT_EQ(e.samples.at("funnel_client_buffered_bytes_peak"), "131072");
    EXPECT_EQ(e.samples.at("funnel_buffered_bytes"), "196608");
    EXPECT_EQ(e.samples.at("funnel_buffered_reply_bytes"), "65536");
    EXPECT_EQ(e.samples.at("funnel_buffer_limit_bytes"), "67108864");
    EXPECT_EQ(e.samples.at("funnel_spool_bytes"), "4096");
    EXPECT_EQ(e.samples.at("funnel_spool_limit_bytes"), "1073741824");
    EXPECT_EQ(e.samples.at("funnel_spool_records_written_total"), "6");
    EXPECT_EQ(e.samples.at("funnel_spool_messages_written_total"), "60");
    EXPECT_EQ(e.samples.at("funnel_spool_records_replayed_total"), "5");
    EXPECT_EQ(e.samples.at("funnel_spool_messages_replayed_total"), "50");
    EXPECT_EQ(e.samples.at("funnel_build_info{version=\"1.2.3\"}"), "1");
    EXPECT_EQ(e.samples.at("process_start_time_seconds"), "1700000000.5");
}

TEST_F(Exposition, EveryRefusalReasonIsShownZerosIncluded) {
    metrics::add(stats_.refused(refusal::per_ip_limit), 7);
    const auto e = parse(render());
    for (const auto reason : refusal_names) {
        const std::string sample =
            "funnel_connections_refused_total{reason=\"" + std::string(reason) + "\"}";
        ASSERT_TRUE(e.samples.contains(sample)) << sample;
        EXPECT_EQ(e.samples.at(sample), reason == "per_ip_limit" ? "7" : "0");
    }
}

TEST_F(Exposition, EveryDropReasonIsShown) {
    metrics::add(stats_.oversize_dropped, 1);
    metrics::add(stats_.messages_truncated, 2);
    metrics::add(stats_.messages_dropped_at_stop, 3);
    metrics::add(stats_.spool_messages_dropped, 4);
    metrics::add(stats_.spool_messages_failed, 5);
    const auto e = parse(render());
    EXPECT_EQ(e.samples.at("funnel_messages_dropped_total{reason=\"oversize\"}"), "1");
    EXPECT_EQ(e.samples.at("funnel_messages_dropped_total{reason=\"truncated\"}"), "2");
    EXPECT_EQ(e.samples.at("funnel_messages_dropped_total{reason=\"shutdown\"}"), "3");
    EXPECT_EQ(e.samples.at("funnel_messages_dropped_total{reason=\"spool_full\"}"), "4");
    EXPECT_EQ(e.samples.at("funnel_messages_dropped_total{reason=\"spool_error\"}"), "5");
}

TEST_F(Exposition, LatencyHistogramIsInSecondsWithCumulativeBucketsSumAndCount) {
    stats_.forward_latency_ns.observe(80'000, 3);      // 80 µs, three messages
    stats_.forward_latency_ns.observe(2'000'000, 1);   // 2 ms
    stats_.forward_latency_ns.observe(60'000'000'000); // a minute: above every bound
    const auto e = parse(render());
    const std::string name = "funnel_forward_latency_seconds";
    EXPECT_EQ(e.samples.at(name + "_bucket{le=\"5e-05\"}"), "0");
    EXPECT_EQ(e.samples.at(name + "_bucket{le=\"0.0001\"}"), "3");
    EXPECT_EQ(e.samples.at(name + "_bucket{le=\"0.001\"}"), "3");
    EXPECT_EQ(e.samples.at(name + "_bucket{le=\"0.0025\"}"), "4");
    EXPECT_EQ(e.samples.at(name + "_bucket{le=\"10\"}"), "4");
    EXPECT_EQ(e.samples.at(name + "_bucket{le=\"+Inf\"}"), "5");
    EXPECT_EQ(e.samples.at(name + "_count"), "5");
    EXPECT_DOUBLE_EQ(std::stod(e.samples.at(name + "_sum")), 0.00024 + 0.002 + 60);

    // Buckets ascend, never decrease, and +Inf comes last, just before _sum and _count.
    std::vector<std::string> buckets;
    for (const auto& s : e.order)
        if (s.starts_with(name + "_bucket"))
            buckets.push_back(s);
    ASSERT_GE(buckets.size(), 2u);
    EXPECT_EQ(buckets.back(), name + "_bucket{le=\"+Inf\"}");
    double last_bound = 0;
    std::uint64_t last_count = 0;
    for (std::size_t i = 0; i + 1 < buckets.size(); ++i) {
        const auto le = buckets[i].substr(buckets[i].find('"') + 1);
        const double bound = std::stod(le.substr(0, le.find('"')));
        EXPECT_GT(bound, last_bound) << buckets[i];
        const auto count = std::stoull(e.samples.at(buckets[i]));
        EXPECT_GE(count, last_count) << buckets[i];
        last_bound = bound;
        last_count = count;
    }
}

TEST_F(Exposition, WriteBatchHistogramIsInWholeBytes) {
    stats_.write_batch_bytes.observe(100);
    stats_.write_batch_bytes.observe(70'000);
    const auto e = parse(render());
    const std::string name = "funnel_write_batch_bytes";
    EXPECT_EQ(e.samples.at(name + "_bucket{le=\"64\"}"), "0");
    EXPECT_EQ(e.samples.at(name + "_bucket{le=\"256\"}"), "1");
    EXPECT_EQ(e.samples.at(name + "_bucket{le=\"65536\"}"), "1");
    EXPECT_EQ(e.samples.at(name + "_bucket{le=\"262144\"}"), "2");
    EXPECT_EQ(e.samples.at(name + "_bucket{le=\"+Inf\"}"), "2");
    EXPECT_EQ(e.samples.at(name + "_sum"), "70100");
    EXPECT_EQ(e.samples.at(name + "_count"), "2");
}

} // namespace
} // namespace funnel
