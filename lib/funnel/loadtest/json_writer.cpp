#include "funnel/loadtest/json_writer.hpp"

#include <charconv>
#include <cmath>

namespace funnel::loadtest {

std::string json_quote(std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out = "\"";
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else if (u < 0x20) {
            out += "\\u00";
            out += hex[u >> 4];
            out += hex[u & 0xF];
        } else {
            out += c;
        }
    }
    out += '"';
    return out;
}

void json_object::key(std::string_view k) {
    if (!body_.empty())
        body_ += ',';
    body_ += json_quote(k);
    body_ += ':';
}

json_object& json_object::number(std::string_view k, std::uint64_t value) {
    key(k);
    body_ += std::to_string(value);
    return *this;
}

json_object& json_object::real(std::string_view k, double value, int decimals) {
    key(k);
    if (!std::isfinite(value))
        value = 0;
    char buf[64];
    auto [end, ec] =
        std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed, decimals);
    if (ec != std::errc()) {
        body_ += '0';
        return *this;
    }
    std::string_view s(buf, static_cast<std::size_t>(end - buf));
    if (s.find('.') != std::string_view::npos) {
        while (s.back() == '0')
            s.remove_suffix(1);
        if (s.back() == '.')
            s.remove_suffix(1);
    }
    if (s == "-0")
        s = "0";
    body_ += s;
    return *this;
}

json_object& json_object::text(std::string_view k, std::string_view value) {
    key(k);
    body_ += json_quote(value);
    return *this;
}

json_object& json_object::object(std::string_view k, const json_object& value) {
    key(k);
    body_ += value.str();
    return *this;
}

} // namespace funnel::loadtest
