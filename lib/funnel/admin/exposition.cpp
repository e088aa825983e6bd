#include "funnel/admin/exposition.hpp"

#include <spdlog/fmt/fmt.h>

#include <iterator>

namespace funnel {

namespace {

class writer {
public:
    explicit writer(std::string& out) : out_(out) {}

    void header(std::string_view name, std::string_view type, std::string_view help) {
        fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name,
                       type);
    }
    void sample(std::string_view name, std::uint64_t value) {
        fmt::format_to(std::back_inserter(out_), "{} {}\n", name, value);
    }
    void sample(std::string_view name, double value) {
        fmt::format_to(std::back_inserter(out_), "{} {}\n", name, value);
    }
    void sample(std::string_view name, std::string_view label, std::string_view label_value,
                std::uint64_t value) {
        fmt::format_to(std::back_inserter(out_), "{}{{{}=\"{}\"}} {}\n", name, label, label_value,
                       value);
    }

    void counter(std::string_view name, std::string_view help, const metrics::counter& c) {
        header(name, "counter", help);
        sample(name, metrics::get(c));
    }
    void gauge(std::string_view name, std::string_view help, std::uint64_t value) {
        header(name, "gauge", help);
        sample(name, value);
    }
    // `divisor` turns the histogram's unit into the exported one (1e9: nanoseconds to seconds).
    // A division, not a product with 1e-9: dividing by an exact 1e9 rounds correctly, so a bound
    // of 100000 ns reads "0.0001", not "0.00010000000000000002".
    void histogram_family(std::string_view name, std::string_view help, const histogram& h,
                          double divisor) {
        header(name, "histogram", help);
        const histogram::snapshot s = h.read();
        for (const auto& b : s.buckets) {
            if (divisor == 1.0)
                fmt::format_to(std::back_inserter(out_), "{}_bucket{{le=\"{}\"}} {}\n", name,
                               b.upper_bound, b.count);
            else
                fmt::format_to(std::back_inserter(out_), "{}_bucket{{le=\"{}\"}} {}\n", name,
                               static_cast<double>(b.upper_bound) / divisor, b.count);
        }
        fmt::format_to(std::back_inserter(out_), "{}_bucket{{le=\"+Inf\"}} {}\n", name, s.count);
        if (divisor == 1.0)
            fmt::format_to(std::back_inserter(out_), "{}_sum {}\n", name, s.sum);
        else
            fmt::format_to(std::back_inserter(out_), "{}_sum {}\n", name,
                           static_cast<double>(s.sum) / divisor);
        fmt::format_to(std::back_inserter(out_), "{}_count {}\n", name, s.count);
    }

private:
    std::string& out_;
};

} // namespace

std::string render_exposition(const exposition_input& in) {
    const metrics& m = in.stats;
    std::string out;
    out.reserve(8192);
    writer w(out);

    w.header("funnel_build_info", "gauge", "Always 1; the version label says which funnel runs.");
    w.sample("funnel_build_info", "version", in.version, 1);
    w.header("process_start_time_seconds", "gauge", "When the process started, Unix time.");
    w.sample("process_start_time_seconds", in.start_time_seconds);

    // Clients.
    w.counter("funnel_connections_accepted_total", "Client connections taken into a session.",
              m.connections_accepted);
    w.header("funnel_connections_refused_total", "counter",
             "Client connections closed at once, before any byte was read, by reason.");
    for (std::size_t i = 0; i < refusal_names.size(); ++i)
        w.sample("funnel_connections_refused_total", "reason", refusal_names[i],
                 metrics::get(m.refused(static_cast<refusal>(i))));
    w.gauge("funnel_connections_open", "Client sessions alive now.",
            metrics::get(m.connections_active));
    w.counter("funnel_accept_errors_total",
              "Failed accepts (EMFILE, ENFILE, ENOBUFS, ENOMEM...); each pauses accepting 100ms.",
              m.accept_errors);
    w.counter("funnel_accept_pauses_total",
              "Times --refuse-when-full stopped accepting because --buffer-limit was spent.",
              m.accept_pauses);
    w.counter("funnel_idle_timeouts_total", "Connections closed by --idle-timeout.",
              m.idle_timeouts);
    w.counter("funnel_connection_resets_total",
              "Stream-mode pairs closed because one side reset or failed.", m.resets);

    // Bytes, payload and framing as they cross the sockets.
    w.counter("funnel_bytes_received_total", "Bytes read from clients.", m.bytes_from_clients);
    w.counter("funnel_bytes_sent_total",
              "Bytes written to the target (message mode: written "
              "again after a reconnect counts again).",
              m.bytes_to_targets);
    w.counter("funnel_reply_bytes_received_total", "Stream mode: bytes read from the target.",
              m.bytes_from_targets);
    w.counter("funnel_reply_bytes_sent_total", "Stream mode: bytes written back to clients.",
              m.bytes_to_clients);

    // Messages.
    w.counter("funnel_messages_received_total", "Message mode: whole messages framed from clients.",
              m.messages_in);
    w.counter("funnel_messages_sent_total",
              "Message mode: messages the target's kernel acknowledged.", m.messages_out);
    w.header("funnel_messages_dropped_total", "counter",
             "Message mode: messages dropped, by reason: oversize (over --max-message-size), "
             "truncated (cut short by their client's end), shutdown (held when funnel stopped), "
             "spool_full (the spool or its disk was full: --overflow drop-newest or "
             "drop-oldest), spool_error (the spool's disk failed a write, or a record larger "
             "than the spool).");
    w.sample("funnel_messages_dropped_total", "reason", "oversize",
             metrics::get(m.oversize_dropped));
    w.sample("funnel_messages_dropped_total", "reason", "truncated",
             metrics::get(m.messages_truncated));
    w.sample("funnel_messages_dropped_total", "reason", "shutdown",
             metrics::get(m.messages_dropped_at_stop));
    w.sample("funnel_messages_dropped_total", "reason", "spool_full",
             metrics::get(m.spool_messages_dropped));
    w.sample("funnel_messages_dropped_total", "reason", "spool_error",
             metrics::get(m.spool_messages_failed));
    w.counter("funnel_messages_resent_total",
              "Message mode: messages written again after a target connection broke.",
              m.messages_resent);

    // The target side.
    w.counter("funnel_upstream_reconnects_total",
              "Message mode: established target connections that broke.", m.upstream_reconnects);
    w.counter("funnel_upstream_connect_failures_total",
              "Target connection attempts that failed or timed out.", m.connect_failures);
    w.gauge("funnel_upstream_connections_up",
            "Target connections up now (message mode: links; stream mode: one per session).",
            metrics::get(m.upstream_connections_up));
    w.gauge("funnel_upstream_last_connect_failed",
            "1 while the latest target connection attempt failed, else 0.",
            metrics::get(m.last_connect_failed));
    w.gauge("funnel_worker_queue_depth",
            "Jobs funnel posted to the target side's threads and not yet started.",
            metrics::get(m.worker_queue_depth));

    // Memory and backpressure.
    w.gauge("funnel_buffered_bytes", "Bytes of read blocks held for the target.",
            in.buffered_bytes);
    w.gauge("funnel_buffered_reply_bytes", "Stream mode: bytes of read blocks held for clients.",
            in.buffered_reply_bytes);
    w.gauge("funnel_buffer_limit_bytes", "--buffer-limit: the most funnel_buffered_bytes can be.",
            in.buffer_limit_bytes);
    w.counter("funnel_read_pauses_total", "Client reads parked because --buffer-limit was reached.",
              m.read_pauses);
    w.counter("funnel_client_pauses_total",
              "Times one client's reads were paused because it held --client-buffer-limit.",
              m.client_pauses);
    w.gauge("funnel_client_buffered_bytes_peak",
            "The most bytes of read blocks one client has held at once in one direction "
            "(bounded by --client-buffer-limit; 0 while it is off).",
            metrics::get(m.client_buffer_high_water));

    // The disk spool.
    w.gauge("funnel_spool_bytes", "Message mode: bytes of the disk spool's files (--spool-dir).",
            metrics::get(m.spool_bytes));
    w.gauge("funnel_spool_limit_bytes", "--spool-limit: the most funnel_spool_bytes can be.",
            in.spool_limit_bytes);
    w.counter("funnel_spool_records_written_total", "Records appended to the disk spool.",
              m.spool_records_written);
    w.counter("funnel_spool_messages_written_total", "Messages appended to the disk spool.",
              m.spool_messages_written);
    w.counter("funnel_spool_records_replayed_total",
              "Records read back from the disk spool to be sent.", m.spool_records_replayed);
    w.counter("funnel_spool_messages_replayed_total",
              "Messages read back from the disk spool to be sent.", m.spool_messages_replayed);
    w.counter("funnel_spool_damaged_bytes_total",
              "Spool bytes skipped while reading back: corrupt records and torn tails.",
              m.spool_damaged_bytes);
    w.counter("funnel_spool_write_errors_total",
              "Spool appends the disk refused (full, quota, I/O error).", m.spool_write_errors);

    w.histogram_family("funnel_forward_latency_seconds",
                       "From the client read that completed a message (stream mode: a chunk) to "
                       "the completion of its write to the target.",
                       m.forward_latency_ns, 1e9);
    w.histogram_family("funnel_write_batch_bytes", "Bytes of one gathered write to the target.",
                       m.write_batch_bytes, 1.0);
    return out;
}

} // namespace funnel
