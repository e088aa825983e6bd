#include "funnel/admin/health_check.hpp"

#include "funnel/net.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <spdlog/fmt/fmt.h>

#include <exception>
#include <optional>

namespace funnel {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;

net::awaitable<health_result> probe(host_port where) {
    auto ex = co_await net::this_coro::executor;
    tcp::resolver resolver(ex);
    const auto endpoints = co_await resolver.async_resolve(
        where.host, std::to_string(where.port), tcp::resolver::numeric_service, net::use_awaitable);
    beast::tcp_stream stream(ex);
    co_await stream.async_connect(endpoints, net::use_awaitable);

    http::request<http::empty_body> req{http::verb::get, "/healthz", 11};
    req.set(http::field::host, where.to_string());
    req.set(http::field::user_agent, "funnel --health-check");
    co_await http::async_write(stream, req, net::use_awaitable);

    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(4096); // "ok"; anything long is not funnel
    co_await http::async_read(stream, buffer, parser, net::use_awaitable);
    const auto& res = parser.get();
    if (res.result_int() == 200)
        co_return health_result{true, "200 ok"};
    std::string body = res.body().substr(0, res.body().find('\n'));
    co_return health_result{false, fmt::format("/healthz answered {} {}", res.result_int(), body)};
}

} // namespace

host_port probe_address(const host_port& metrics_listen) {
    host_port out = metrics_listen;
    error_code ec;
    const auto address = net::ip::make_address(out.host, ec);
    if (!ec && address.is_unspecified())
        out.host = address.is_v6() ? "::1" : "127.0.0.1";
    return out;
}

health_result check_health(const host_port& metrics_listen, std::chrono::milliseconds timeout) {
    const host_port where = probe_address(metrics_listen);
    net::io_context io{1};
    std::optional<health_result> result;
    net::co_spawn(io, probe(where), [&](std::exception_ptr e, health_result r) {
        if (!e) {
            result = std::move(r);
            return;
        }
        try {
            std::rethrow_exception(e);
        } catch (const boost::system::system_error& err) {
            result = health_result{false,
                                   fmt::format("{}: {}", where.to_string(), err.code().message())};
        } catch (const std::exception& err) {
            result = health_result{false, fmt::format("{}: {}", where.to_string(), err.what())};
        }
    });
    io.run_for(timeout);
    if (!result)
        return {false,
                fmt::format("{}: no answer within {}ms", where.to_string(), timeout.count())};
    return *result;
}

} // namespace funnel
