#pragma once
// The one-line JSON results of funnel-load and funnel-sink: a flat object of numbers, strings and
// nested objects, written in the order the fields are added.
//
// Thread-safety: a plain value.

#include <cstdint>
#include <string>
#include <string_view>

namespace funnel::loadtest {

class json_object {
public:
    json_object& number(std::string_view key, std::uint64_t value);
    // Fixed notation with up to `decimals` digits after the point; NaN and infinities give 0.
    json_object& real(std::string_view key, double value, int decimals = 3);
    json_object& text(std::string_view key, std::string_view value);
    json_object& object(std::string_view key, const json_object& value);

    // "{...}", without a newline.
    std::string str() const { return "{" + body_ + "}"; }

private:
    void key(std::string_view k);
    std::string body_;
};

// `s` as a JSON string literal, quotes included.
std::string json_quote(std::string_view s);

} // namespace funnel::loadtest
