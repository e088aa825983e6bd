#pragma once
// A minimal reader of the one-line JSON results of funnel-load and funnel-sink, for tests: the
// value of a field by its key (the first occurrence, at any depth). Enough for these flat lines
// with unique keys; not a JSON parser.

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace funnel::test {

// The raw value of `key`: a number's text, or a string without its quotes (escapes undone).
inline std::optional<std::string> json_field(std::string_view json, std::string_view key) {
    const std::string needle = "\"" + std::string(key) + "\":";
    const auto at = json.find(needle);
    if (at == std::string_view::npos)
        return std::nullopt;
    const std::string_view v = json.substr(at + needle.size());
    if (v.starts_with('"')) {
        std::string out;
        for (std::size_t i = 1; i < v.size(); ++i) {
            if (v[i] == '\\' && i + 1 < v.size()) {
                const char e = v[++i];
                out += e == 'n' ? '\n' : e;
            } else if (v[i] == '"') {
                return out;
            } else {
                out += v[i];
            }
        }
        return std::nullopt;
    }
    return std::string(v.substr(0, v.find_first_of(",}")));
}

// A whole-number field; throws std::runtime_error naming the key when it is missing.
inline std::uint64_t json_u64(std::string_view json, std::string_view key) {
    const auto v = json_field(json, key);
    if (!v || v->empty() || v->find_first_not_of("0123456789") != std::string::npos)
        throw std::runtime_error("no whole number \"" + std::string(key) + "\" in " +
                                 std::string(json));
    return std::stoull(*v);
}

inline double json_double(std::string_view json, std::string_view key) {
    const auto v = json_field(json, key);
    if (!v || v->empty())
        throw std::runtime_error("no number \"" + std::string(key) + "\" in " + std::string(json));
    return std::stod(*v);
}

inline std::string json_text(std::string_view json, std::string_view key) {
    const auto v = json_field(json, key);
    if (!v)
        throw std::runtime_error("no field \"" + std::string(key) + "\" in " + std::string(json));
    return *v;
}

} // namespace funnel::test
